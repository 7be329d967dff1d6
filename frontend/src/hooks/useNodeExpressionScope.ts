/** What the selected node's expression fields see (`ExpressionSupport`), from the draft graph and
 * the loaded run — or, after "Run to here", that test walk: completion data, and the input,
 * variables and outputs to preview with when they are not the loaded run's. */
import { useMemo } from 'react';
import type { Definition, JsonValue } from '../api/types';
import { envOf, useVariables } from '../api/variables';
import type { ExpressionSupport } from '../components/expression/ExpressionContext';
import { inputFor, scopeData } from '../lib/expressionScope';
import { walkInputFor, type WalkRun } from '../lib/walk';
import type { RunData } from './useRunData';

export function useNodeExpressionScope(
  schemaId: string,
  definition: Definition,
  nodeId: string | undefined,
  run: Pick<RunData, 'execution' | 'stepByNode'>,
  /** Pinned trigger data: used instead of the run's payload. */
  pinned?: JsonValue,
  /** The schema owner's email: `env` is their variables (as in a run), also when staff edits it. */
  owner?: string,
  /** Pinned outputs of the draft's nodes: they stand in for the run's. */
  pins?: ReadonlyMap<string, JsonValue>,
  /** The last "Run to here" walk: its data stands in for the loaded run's. */
  walk?: WalkRun | null,
): ExpressionSupport | null {
  const ex = run.execution;
  const variables = useVariables().data;
  const env = useMemo(() => envOf(variables ?? [], owner), [variables, owner]);
  return useMemo(() => {
    if (!nodeId) return null;
    if (walk) return walkSupport(schemaId, definition, nodeId, walk, pins, env);
    const input = inputFor(nodeId, definition.edges, run.stepByNode, pins);
    return {
      schemaId,
      nodeId,
      executionId: ex?.id ?? null,
      inputOverride: input.ran ? undefined : input.value,
      triggerOverride: pinned,
      pinned: pins?.size ? Object.fromEntries(pins) : undefined,
      data: scopeData({
        definition,
        nodeId,
        runVars: ex?.context as JsonValue | undefined,
        trigger: pinned ?? ex?.trigger_payload,
        input: input.value,
        stepByNode: run.stepByNode,
        env,
        pins,
      }),
    };
  }, [schemaId, definition, nodeId, ex, run.stepByNode, pinned, env, pins, walk]);
}

/** The expression support of `nodeId` from a walk's data (what the node saw in it, or would get). */
export function walkSupport(
  schemaId: string,
  definition: Definition,
  nodeId: string,
  walk: WalkRun,
  pins: ReadonlyMap<string, JsonValue> | undefined,
  env: Readonly<Record<string, string>>,
): ExpressionSupport {
  const stepByNode = new Map(walk.steps.map((s) => [s.node_id, { input: s.input, output: s.output, status: s.status === 'failed' ? ('failed' as const) : ('success' as const) }]));
  const own = walk.steps.find((s) => s.node_id === nodeId);
  const input = own ? own.input : walkInputFor(walk, nodeId, definition.edges);
  // The walk starts at the trigger: its output is the payload.
  const first = walk.steps[0];
  const trigger = first && first.status !== 'failed' ? first.output : undefined;
  const nodes = Object.fromEntries(walk.steps.filter((s) => s.status !== 'failed').map((s) => [s.node_id, { output: s.output }]));
  return {
    schemaId,
    nodeId,
    executionId: null,
    inputOverride: input ?? null,
    triggerOverride: trigger,
    varsOverride: walk.vars,
    nodesOverride: nodes,
    data: scopeData({ definition, nodeId, runVars: walk.vars, trigger, input, stepByNode, env, pins }),
  };
}
