/** What the selected node's expression fields see (`ExpressionSupport`), from the draft graph and
 * the loaded run: completion data, and the input to preview with when the node did not run. */
import { useMemo } from 'react';
import type { Definition, JsonValue } from '../api/types';
import { envOf, useVariables } from '../api/variables';
import type { ExpressionSupport } from '../components/expression/ExpressionContext';
import { inputFor, scopeData } from '../lib/expressionScope';
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
): ExpressionSupport | null {
  const ex = run.execution;
  const variables = useVariables().data;
  const env = useMemo(() => envOf(variables ?? [], owner), [variables, owner]);
  return useMemo(() => {
    if (!nodeId) return null;
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
  }, [schemaId, definition, nodeId, ex, run.stepByNode, pinned, env, pins]);
}
