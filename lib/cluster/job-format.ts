// Runs in a submitter's process and in a worker's: what a cluster job and its result are, as
// they sit in Redis (BullMQ's job data and return value), and their limits.
import type { TaskOutcome, TaskSpec } from '../api/tasks';
import { CLUSTER_LIMITS } from '../shared/protocol-constants';

/** BullMQ's queue name when none is given. */
export const DEFAULT_QUEUE = 'pynwheel';
/** Redis key prefix of everything pynwheel keeps beside BullMQ's own keys. */
export const KEY_PREFIX = 'pynwheel';
export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;
export const DEFAULT_MAX_RESULT = 64 * 1024 * 1024;
/** A worker killed mid-job: how often the job goes to another worker (BullMQ's maxStalledCount). */
export const DEFAULT_FAULT_RETRIES = 3;
/** How long a job may wait for a worker and run, when the caller sets no timeout. */
export const DEFAULT_EXPIRY_MS = 24 * 3600 * 1000;
/** Finished jobs are removed after this long or past this many, whichever comes first. */
export const KEEP_FINISHED = { age: 3600, count: 10000 };
/** Output streams of finished jobs are removed after this long (seconds). */
export const OUTPUT_TTL_S = 3600;

/** BullMQ's job data: the signed envelope. `payload` is JSON of a JobPayload. */
export interface JobData {
  v: 1;
  id: string;
  /** Epoch ms after which no worker starts it. */
  expires: number;
  /** sha256 of the code bundle, hex. */
  code: string;
  payload: string;
  sig: string;
  /**
   * The submitter's reply channel: the worker publishes the signed result there as it stores it,
   * a push straight to the submitter, ahead of BullMQ's completion and its event (unsigned: a
   * result sent elsewhere is still signed, and BullMQ's event still tells the submitter).
   */
  reply?: string;
}

/**
 * What the job asks for. Paths are relative to the code bundle's root. `progress`: the worker
 * reports its start (job.updateProgress). `packages`: PEP 440 requirements the worker's python
 * must satisfy before it runs anything of the job (lib/cluster/package-gate.ts).
 */
export type JobPayload = { progress?: boolean; packages?: string[] } & (
  | { kind: 'run'; file: string; args: string[]; cwd: string; pythonOptions: string[]; stdin: string | null; stream: boolean; timeout: number }
  /** `imports`: packages the call's code imports at its top (a module target's): the worker routes the call to their family's zygote (lib/cluster/family-shim.ts). */
  | { kind: 'call'; target: string; module: boolean; value: EncodedValue; cwd: string; stream: boolean; timeout: number; imports?: string[] }
  /** One task of a tasks job (its file relative to the bundle's root), run with the local runTasks(). */
  | { kind: 'task'; task: TaskSpec; cwd: string; stream: boolean; timeout: number });

/** The codec's tree (lib/api/codec.ts) with its blobs as base64. */
export interface EncodedValue { tree: unknown; blobs: string[] }

/** BullMQ's return value: the signed result. `payload` is JSON of a ResultPayload. */
export interface ResultData { v: 1; id: string; payload: string; sig: string }

export type ResultPayload =
  | { kind: 'run'; exitCode: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; durationMs: number; worker: string }
  | { kind: 'value'; value: EncodedValue; stdout: string; stderr: string; durationMs: number; worker: string }
  | { kind: 'task'; outcome: TaskOutcome; files: Record<string, string>; durationMs: number; worker: string; stdout: string; stderr: string }
  | { kind: 'error'; name: string; code: string | null; message: string; exception: unknown; durationMs: number; worker: string; stdout: string; stderr: string };

export function bundleKey(hash: string): string {
  return `${KEY_PREFIX}:bundle:${hash}`;
}

export function outputKey(queue: string, id: string): string {
  return `${KEY_PREFIX}:${queue}:out:${id}`;
}

/** Job ids that finished: a signed job replayed under its id is refused until it expires. */
export function doneKey(queue: string, id: string): string {
  return `${KEY_PREFIX}:${queue}:done:${id}`;
}

/** A submitter's channel for its jobs' results (JobData.reply). */
export function replyChannel(queue: string, submitter: string): string {
  return `${KEY_PREFIX}:${queue}:reply:${submitter}`;
}

export function cancelChannel(queue: string): string {
  return `${KEY_PREFIX}:${queue}:cancel`;
}

export function workersKey(queue: string): string {
  return `${KEY_PREFIX}:${queue}:workers`;
}

/** What each worker that lacks a job's packages noted (a hash: worker -> JSON {requirement: why}). */
export function lacksKey(queue: string, id: string): string {
  return `${KEY_PREFIX}:${queue}:lacks:${id}`;
}

/** A worker whose record is older than this is gone (killed, or its machine is): records refresh every 5 s. */
export const WORKER_STALE_MS = 15000;
/** A job's failed reason when no live worker has its packages: this, then JSON {worker: {requirement: why}}. */
export const PACKAGES_FAILURE_PREFIX = 'EPACKAGES ';
/** At most this many requirements a job, each at most this long (lib/shared/protocol.json's cluster limits). */
export const MAX_PACKAGES = CLUSTER_LIMITS.packages;
export const MAX_PACKAGE_CHARS = CLUSTER_LIMITS.packageChars;
