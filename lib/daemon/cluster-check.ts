// Runs in the daemon: the checks a cluster session's request and its frames must pass (a Python
// Executor(cluster=URL) speaks them: python/pynwheel/cluster.py). Each failure has a stable code
// of lib/shared/protocol.json's cluster.checks, the PynwheelError's `reason` beside ECLUSTER.
import * as path from 'node:path';
import { PynwheelError } from '../shared/errors';
import { CLUSTER_LIMITS, type ClusterCheck } from '../shared/protocol-constants';
import type { Message } from '../shared/wire';

export interface ClusterRequest { type: 'cluster'; client: string; url: string; queue?: string; key?: string; keyFile?: string }
export interface SubmitFrame { type: 'submit'; id: number; payload: string; codeDir: string; packages?: string[]; timeout?: number; imports?: string[] }
export interface CancelFrame { type: 'cancel'; id: number }

const URL_SCHEMES = /^(redis|rediss|unix):\/\//;
const QUEUE_NAME = /^[A-Za-z0-9._-]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const TOP_MODULE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bad(reason: ClusterCheck, what: string): never {
  throw new PynwheelError('ECLUSTER', `bad cluster request: ${what}`, { reason });
}

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** Validates a session's first frame; throws PynwheelError('ECLUSTER') with a cluster.checks reason. */
export function checkClusterRequest(message: Message): ClusterRequest {
  const m = message as Record<string, unknown>;
  if (typeof m.url !== 'string' || !URL_SCHEMES.test(m.url) || m.url.includes('\0') || m.url.length > CLUSTER_LIMITS.urlChars) {
    bad('bad-url', '"url" must be a redis://, rediss:// or unix:// URL');
  }
  if (m.queue !== undefined && (typeof m.queue !== 'string' || !QUEUE_NAME.test(m.queue) || m.queue.length > CLUSTER_LIMITS.queueChars)) {
    bad('bad-queue', `"queue" must be letters, digits, '.', '_' or '-', at most ${CLUSTER_LIMITS.queueChars} of them`);
  }
  if ((m.key !== undefined && m.keyFile !== undefined) || (m.key !== undefined && (typeof m.key !== 'string' || m.key.includes('\0'))) ||
    (m.keyFile !== undefined && (typeof m.keyFile !== 'string' || !path.isAbsolute(m.keyFile) || m.keyFile.includes('\0')))) {
    bad('bad-key', 'give at most one of "key" (a string) and "keyFile" (an absolute path)');
  }
  return m as unknown as ClusterRequest;
}

/** Validates a frame of an open session: a submit (its id not in flight) or a cancel. */
export function checkSessionFrame(message: Message, inFlight: ReadonlySet<number>): SubmitFrame | CancelFrame {
  const m = message as Record<string, unknown>;
  if (m.type === 'cancel') {
    if (!isId(m.id)) bad('bad-submit', 'a cancel names the id of a submit');
    return m as unknown as CancelFrame;
  }
  if (m.type !== 'submit') bad('not-session', `a session's frames are submit and cancel, not ${JSON.stringify(m.type)}`);
  if (!isId(m.id) || inFlight.has(m.id) || typeof m.payload !== 'string' || !BASE64.test(m.payload) ||
    typeof m.codeDir !== 'string' || !path.isAbsolute(m.codeDir) || m.codeDir.includes('\0') ||
    (m.timeout !== undefined && !(typeof m.timeout === 'number' && Number.isFinite(m.timeout) && m.timeout > 0))) {
    bad('bad-submit', 'a submit is {id: a positive integer not in flight, payload: base64, codeDir: an absolute path, timeout: milliseconds}');
  }
  if (m.packages !== undefined && (!Array.isArray(m.packages) || m.packages.length > CLUSTER_LIMITS.packages ||
    !m.packages.every((p) => typeof p === 'string' && p.trim().length > 0 && p.length <= CLUSTER_LIMITS.packageChars && !p.includes('\0')))) {
    bad('bad-packages', `"packages" must be at most ${CLUSTER_LIMITS.packages} requirement strings of at most ${CLUSTER_LIMITS.packageChars} characters`);
  }
  if (m.imports !== undefined && (!Array.isArray(m.imports) || m.imports.length > CLUSTER_LIMITS.packages || !m.imports.every((n) => typeof n === 'string' && TOP_MODULE.test(n)))) {
    bad('bad-submit', `"imports" must be at most ${CLUSTER_LIMITS.packages} top-level module names`);
  }
  if (inFlight.size >= CLUSTER_LIMITS.jobsInFlight) bad('too-many-jobs', `more than ${CLUSTER_LIMITS.jobsInFlight} jobs in flight`);
  return m as unknown as SubmitFrame;
}
