/**
 * "Run to here": runs the draft from its trigger up to the selected node on the server (a test
 * run: no execution, nothing after that node runs; pinned nodes give their pins). When a node on
 * the way has side effects (and no pin) the hook asks first; the server refuses them unconfirmed,
 * and if it knows of one the editor did not, the hook asks then.
 */
import { useCallback, useState } from 'react';
import { ApiError, post } from '../api/client';
import type { Definition, JsonValue } from '../api/types';
import type { WalkRun } from '../lib/walk';

export interface RunToHereRequest {
  nodeId: string;
  definition: Definition;
  /** The loaded execution: its payload starts the walk when nothing is pinned on the trigger. */
  executionId: string | null;
  /** A payload to start with instead (edited input of the trigger). */
  payload?: JsonValue;
  /** Names of the nodes on the way with side effects and no pin (`sideEffectsOnTheWay`). */
  acting: string[];
}

export const actingQuestion = (names: string[]) =>
  `Running up to here acts on the outside world: ${names.join(', ')} ${names.length > 1 ? 'have' : 'has'} side effects and no pinned data (they call the URL, send the data). Run ${names.length > 1 ? 'them' : 'it'} for real?`;

export function runToHereBody(r: RunToHereRequest, confirmed: boolean) {
  return {
    node_id: r.nodeId,
    definition: r.definition,
    execution: r.executionId,
    ...(r.payload !== undefined ? { payload: r.payload } : {}),
    confirm_side_effects: confirmed,
  };
}

export function useRunToHere(schemaId: string) {
  const [walk, setWalk] = useState<WalkRun | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async (r: RunToHereRequest, confirm: (message: string) => boolean) => {
      let confirmed = false;
      if (r.acting.length) {
        if (!confirm(actingQuestion(r.acting))) return;
        confirmed = true;
      }
      setRunning(true);
      setError(null);
      try {
        for (;;) {
          try {
            setWalk(await post<WalkRun>(`/schemas/${schemaId}/run-to-node/`, runToHereBody(r, confirmed)));
            return;
          } catch (e) {
            const ask = e instanceof ApiError && !confirmed ? e.errors.find((x) => x.path === 'confirm_side_effects') : undefined;
            if (!ask) throw e;
            if (!confirm(ask.message)) return;
            confirmed = true;
          }
        }
      } catch (e) {
        setWalk(null);
        setError((e as Error).message);
      } finally {
        setRunning(false);
      }
    },
    [schemaId],
  );
  const clear = useCallback(() => {
    setWalk(null);
    setError(null);
  }, []);
  return { walk, running, error, run, clear };
}

export type RunToHere = ReturnType<typeof useRunToHere>;
