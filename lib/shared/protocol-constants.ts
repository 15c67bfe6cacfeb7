// Runs in every Node process of pynwheel (CLI, Node API caller, daemon): the protocol's
// constants, limits and stable codes, as lib/shared/protocol.json has them (written there once;
// the zygote and the runner keep copies that the tests check against that file).
import protocol from './protocol.json';

export const PROTOCOL = protocol;

export const PROTOCOL_VERSION: number = protocol.version;
/** "PN" as the header's first two bytes, big-endian. */
export const MAGIC: number = (protocol.magic.charCodeAt(0) << 8) | protocol.magic.charCodeAt(1);
export const HEADER_SIZE: number = protocol.headerSize;
/** Largest frame a client may send (to the daemon and to a lane): argv and environment together are far below this. */
export const MAX_CLIENT_FRAME: number = protocol.limits.clientFrameBytes;
/** Largest frame between the daemon and a zygote (status replies, never user data). */
export const MAX_ZYGOTE_FRAME: number = protocol.limits.zygoteFrameBytes;
/** Most fds a frame carries: the kernel's SCM_MAX_FD, so a request can carry every inheritable fd. */
export const MAX_FDS_PER_FRAME: number = protocol.limits.fdsPerFrame;
/** Most arguments of a run request. */
export const MAX_ARGS: number = protocol.limits.args;
/** Most [resource, soft, hard] triples of a run request; a resource number is below it too. */
export const MAX_LIMITS: number = protocol.limits.resourceLimits;
/** A notify token is a positive integer below this (2^53: it travels as a JSON number). */
export const NOTIFY_TOKEN_BELOW: number = protocol.limits.notifyTokenBelow;
/** Signal names a run's status may come by (see RunRequest.notify). */
export const NOTIFY_SIGNAL_NAMES: readonly string[] = protocol.notifySignals;

/** Why a frame could not be read (a PynwheelError's `reason` beside EPROTO or EVERSION). */
export type FrameError = keyof typeof protocol.frameErrors;
/** Why a run request failed its checks (a PynwheelError's `reason` beside EBADREQUEST). */
export type RequestCheck = keyof typeof protocol.requestChecks;
/** Why a lane's spare declined a run (the `reason` of its `decline`). */
export type LaneDecline = keyof typeof protocol.laneDeclines;
/** Why a client did not take a lane at all. */
export type LaneMiss = keyof typeof protocol.laneMisses;
/** Which path a run took, as `status` counts them. */
export type RunPath = keyof typeof protocol.runPaths;
export type ErrorCode = keyof typeof protocol.errorCodes;

export const DEBUG_VARIABLE: string = protocol.debug.variable;
export const DEBUG_PREFIX: string = protocol.debug.prefix;

/** A cluster session's limits (the daemon's, lib/daemon/cluster-session.ts; Python's copy in python/pynwheel/local_daemon.py). */
export const CLUSTER_LIMITS: Readonly<typeof protocol.cluster.limits> = protocol.cluster.limits;
/** Why a cluster session's request or frame was refused (a PynwheelError's `reason` beside ECLUSTER). */
export type ClusterCheck = keyof typeof protocol.cluster.checks;
