/** Run status per canvas node, from an execution and its steps (latest step of a node wins). */
import { FINISHED_STATUSES, type Execution, type ExecutionStep } from '../api/types';
import type { RunStatus } from '../nodes/EditorContext';

export function statusByNode(
  ex: Pick<Execution, 'status' | 'current_node_id'> | undefined,
  steps: readonly Pick<ExecutionStep, 'node_id' | 'status'>[],
): Map<string, RunStatus> {
  const m = new Map<string, RunStatus>();
  for (const s of steps) m.set(s.node_id, s.status);
  // The node a live run stands on: running, or paused at a wait/delay/retry.
  if (ex?.current_node_id && !FINISHED_STATUSES.includes(ex.status)) {
    m.set(ex.current_node_id, ex.status === 'paused' ? 'paused' : ex.status === 'pending' ? 'pending' : 'running');
  }
  return m;
}
