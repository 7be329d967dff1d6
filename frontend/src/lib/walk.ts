/**
 * "Run to here" results on the canvas: the status each node had in the test walk (pinned nodes
 * count as succeeded: their pin went on), and where the selected node stands in it. Pure.
 */
import type { components } from '../api/schema';
import type { Definition, JsonValue, NodeTypeSpec } from '../api/types';
import type { RunStatus } from '../nodes/EditorContext';
import { upstreamOf } from './graph';
import { PIN_KEY } from './pins';

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

/**
 * The nodes "Run to here" on `target` would run that act on the outside world: the target and
 * the nodes before it with side effects and no pin (the server refuses them unless confirmed).
 */
export function sideEffectsOnTheWay(definition: Pick<Definition, 'nodes' | 'edges'>, target: string, specs: ReadonlyMap<string, NodeTypeSpec>): string[] {
  const way = new Set([...upstreamOf(target, definition.edges), target]);
  return definition.nodes
    .filter((n) => way.has(n.id) && specs.get(n.type)?.side_effects && !(PIN_KEY in n))
    .map((n) => n.id);
}

/** What `nodeId` would get next after the walk (it did not run in it): the output of a node of
 * the walk that leads to it on the port it took (a pin goes along every port). */
export function walkInputFor(walk: Pick<WalkRun, 'steps'>, nodeId: string, edges: Definition['edges']): JsonValue | undefined {
  const steps = new Map(walk.steps.map((s) => [s.node_id, s]));
  for (const e of edges) {
    const from = e.target === nodeId ? steps.get(e.source) : undefined;
    if (from && from.status !== 'failed' && (from.port === null || from.port === (e.source_port ?? 'out'))) return from.output;
  }
  return undefined;
}
