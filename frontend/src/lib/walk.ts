/**
 * "Run to here" results on the canvas: the status each node had in the test walk (pinned nodes
 * count as succeeded: their pin went on), and where the selected node stands in it. Pure.
 */
import type { components } from '../api/schema';
import type { JsonValue } from '../api/types';
import type { RunStatus } from '../nodes/EditorContext';

export type WalkStep = Omit<components['schemas']['WalkStep'], 'input' | 'output' | 'pause'> & {
  input: JsonValue;
  output: JsonValue;
  pause: { kind: string; resume_at: string | null } | null;
};
export type WalkRun = Omit<components['schemas']['RunToNode'], 'vars' | 'steps'> & { vars: JsonValue; steps: WalkStep[] };

export function walkStatusByNode(walk: Pick<WalkRun, 'steps'>): Map<string, RunStatus> {
  return new Map(walk.steps.map((s) => [s.node_id, s.status === 'failed' ? 'failed' : 'success']));
}

/** One line saying how the walk ended, with the target's name. */
export function walkSummary(walk: Pick<WalkRun, 'status' | 'node_id' | 'steps'>, nameOf: (id: string) => string): string {
  const ran = walk.steps.filter((s) => s.status !== 'pinned').length;
  const pinned = walk.steps.length - ran;
  const counts = `${ran} node${ran === 1 ? '' : 's'} ran${pinned ? `, ${pinned} pinned` : ''}`;
  if (walk.status === 'success') return `Ran up to ${nameOf(walk.node_id)}: ${counts}.`;
  if (walk.status === 'failed') {
    const failed = walk.steps.find((s) => s.status === 'failed');
    return `Stopped at ${failed ? nameOf(failed.node_id) : '?'} before reaching ${nameOf(walk.node_id)}: ${counts}.`;
  }
  return `No branch taken leads to ${nameOf(walk.node_id)}: ${counts}.`;
}
