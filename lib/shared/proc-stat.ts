// Runs in every Node process of pynwheel (CLI, daemon): what /proc/PID/stat says of a process's
// terminal session. A client with a controlling terminal runs its scripts in a zygote of its
// own session (lib/daemon/daemon.ts), as only a process born in a session can open its terminal.
import * as fs from 'node:fs';

export interface ProcessSession {
  /** The session's id (its leader's pid) and the process's group. */
  sid: number;
  pgid: number;
  /** The controlling terminal's device number; 0 without one. */
  ttyNr: number;
  /** When the process started, in clock ticks since boot (a pid reused later has another). */
  startTime: number;
}

/** Fields after `pid (comm)`: the name may hold spaces and parentheses, so it is cut at the last ')'. */
export function parseProcStat(text: string): ProcessSession | null {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime priority nice num_threads itrealvalue starttime
  const [pgid, sid, ttyNr, startTime] = [fields[2], fields[3], fields[4], fields[19]].map(Number);
  if (![pgid, sid, ttyNr, startTime].every(Number.isSafeInteger)) return null;
  return { sid, pgid, ttyNr, startTime };
}

/** The session of process `pid` ('self' for this one), or null if it is gone. */
export function sessionOf(pid: number | 'self'): ProcessSession | null {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** A request's `session`: [sid, pgid] when this process has a controlling terminal, else undefined. */
export function terminalSession(): [number, number] | undefined {
  const own = sessionOf('self');
  return own !== null && own.ttyNr !== 0 ? [own.sid, own.pgid] : undefined;
}

/** Whether process `pid` is stopped now (state T): a terminal stopped it, or it was not. */
export function isStopped(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] === 'T';
  } catch {
    return false;
  }
}

/** Whether process `pid` exists (EPERM: it does, another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
