// Runs in the daemon: whether a client's run may come from a zygote at all. A client in another
// cgroup or namespace (systemd-run -p MemoryMax=..., a container, unshare) must not escape its
// limits through a zygote, and a nice value or OOM score adjustment below the zygote's cannot be
// given to its run by an unprivileged zygote: python runs those itself (EDIRECT). A lane's spare
// makes the same checks (python/_pynwheel/sched.py).
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { RunRequest } from '../shared/messages';

/**
 * The kinds of namespace a request is compared on, listed once: the pid and time namespaces a
 * process the client starts would be in (`*_for_children`, where the kernel has them), and the
 * others (as python/_pynwheel/sched.py's Confinement).
 */
let namespaceNames: string[] | null = null;

function comparedNamespaces(): string[] {
  const names = fs.readdirSync('/proc/self/ns');
  return names.filter((name) => !((name === 'pid' || name === 'time') && names.includes(`${name}_for_children`))).sort();
}

/** /proc/PID/cgroup and the /proc/PID/ns/* links, as one string; null if they cannot be read. */
export function confinementOf(pid: number | 'self'): string | null {
  try {
    const names = (namespaceNames ??= comparedNamespaces());
    return [fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), ...names.map((name) => fs.readlinkSync(`/proc/${pid}/ns/${name}`))].join('\n');
  } catch {
    return null;
  }
}

function ownOomScoreAdj(): number | null {
  try {
    return Number.parseInt(fs.readFileSync('/proc/self/oom_score_adj', 'utf8'), 10);
  } catch {
    return null;
  }
}

/**
 * Why no zygote may run this request ('other-confinement', 'higher-priority': laneDeclines codes,
 * and words), or null. `own` is the daemon's own confinement (its zygotes are its children).
 */
export function directReason(request: RunRequest, peerPid: number, own: string | null): [string, string] | null {
  if (own !== null && confinementOf(peerPid) !== own) return ['other-confinement', 'the client is in another cgroup or namespace than the zygotes'];
  const sched = request.sched;
  if (sched === undefined) return null;
  // Lower is allowed with CAP_SYS_NICE (or within RLIMIT_NICE) and CAP_SYS_RESOURCE: tried on
  // the daemon itself, and put back at once.
  const nice = os.getPriority();
  if (sched.nice < nice) {
    try {
      os.setPriority(sched.nice);
      os.setPriority(nice);
    } catch {
      return ['higher-priority', `the client's nice value is ${sched.nice}, the zygotes' ${nice}`];
    }
  }
  const oom = ownOomScoreAdj();
  if (oom !== null && sched.oomScoreAdj < oom) {
    try {
      fs.writeFileSync('/proc/self/oom_score_adj', String(sched.oomScoreAdj));
      fs.writeFileSync('/proc/self/oom_score_adj', String(oom));
    } catch {
      return ['higher-priority', `the client's oom_score_adj is ${sched.oomScoreAdj}, the zygotes' ${oom}`];
    }
  }
  return null;
}
