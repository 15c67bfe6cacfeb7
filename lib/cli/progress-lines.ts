// Runs in the CLI: how `pynwheel run --on` and `pynwheel tasks --on` show a cluster job's progress
// events (lib/cluster/submitter.ts ClusterProgressEvent), one line each, on stderr.
import type { ClusterProgressEvent } from '../cluster/submitter';

/** The line for an event; `who` names the job ("job 12", or the task's id). */
export function progressLine(who: string, event: ClusterProgressEvent): string {
  switch (event.event) {
    case 'queued': return `${who}: queued, waiting for a worker`;
    case 'started': return `${who}: started on ${event.worker}${event.retry ? ` (retry ${event.retry})` : ''}`;
    case 'retried': return `${who}: ${event.reason === 'fault' ? 'its worker died; it goes to another worker' : 'it raised; tried again, as asked (attempts)'}`;
    case 'finished': return `${who}: finished on ${event.worker}`;
    case 'progress': return `${who}: progress ${typeof event.data === 'string' ? event.data : JSON.stringify(event.data)}`;
  }
}

/** How long a job may wait for a worker before a terminal is told (when progress is not shown). */
export const WAITING_NOTICE_MS = 2000;
