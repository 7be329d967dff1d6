/** When a run started and how long it took, as its page and the executions list show them. */
import { FINISHED_STATUSES, type ExecutionSummary } from '../api/types';
import { durationBetween } from './format';

export interface RunTiming {
  /** When it started; null while it has not (accepted, waiting for a worker or a slot) or never did. */
  startedAt: string | null;
  /** Accepted and not started yet: waiting since it was created. */
  queuedSince: string | null;
  /** How long it ran (so far, while it runs); null when it has not started: queued time is no run time. */
  durationMs: number | null;
}

export function runTiming(e: Pick<ExecutionSummary, 'status' | 'created_at' | 'started_at' | 'finished_at'>): RunTiming {
  if (!e.started_at) {
    return { startedAt: null, queuedSince: FINISHED_STATUSES.includes(e.status) ? null : e.created_at, durationMs: null };
  }
  return { startedAt: e.started_at, queuedSince: null, durationMs: durationBetween(e.started_at, e.finished_at) };
}
