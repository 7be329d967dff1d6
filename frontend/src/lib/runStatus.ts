/**
 * Run status per canvas node, from an execution and its steps (latest step of a node wins), and
 * where a finished run stopped.
 */
import { FINISHED_STATUSES, type Execution, type ExecutionStep } from '../api/types';
import type { RunStatus } from '../nodes/EditorContext';

export function statusByNode(
  ex: (Pick<Execution, 'status' | 'current_node_id'> & Partial<Pick<Execution, 'waiting'>>) | undefined,
  steps: readonly Pick<ExecutionStep, 'node_id' | 'status'>[],
): Map<string, RunStatus> {
  const m = new Map<string, RunStatus>();
  for (const s of steps) m.set(s.node_id, s.status);
  // The node a live run stands on: running, or paused at a wait/delay/retry.
  if (ex?.current_node_id && !FINISHED_STATUSES.includes(ex.status)) {
    m.set(ex.current_node_id, ex.status === 'paused' ? 'paused' : ex.status === 'pending' ? 'pending' : 'running');
  }
  // Parallel branches: every branch that waits (a wait, a delay, a retry back-off) is paused on its own.
  if (ex && !FINISHED_STATUSES.includes(ex.status)) for (const w of ex.waiting ?? []) if (w.node_id) m.set(w.node_id, 'paused');
  // A cancelled run stands still where it was: the node it waited on or would have run next.
  if (ex?.status === 'cancelled' && ex.current_node_id) m.set(ex.current_node_id, 'cancelled');
  return m;
}

/**
 * The node a cancelled or failed run stopped at: the one it waited on, failed at or would have
 * run next; else the last step it recorded. `null` for other runs or when nothing ran.
 */
export function stoppedAt(
  ex: Pick<Execution, 'status' | 'current_node_id'> | undefined,
  steps: readonly Pick<ExecutionStep, 'node_id'>[],
): string | null {
  if (ex?.status !== 'cancelled' && ex?.status !== 'failed') return null;
  return ex.current_node_id ?? steps[steps.length - 1]?.node_id ?? null;
}
