/**
 * "Run this node": runs the selected node once on the server (a test run: no execution is
 * created) with the input shown in the panes, or JSON the user edited there, against the draft as
 * it is on screen. A node with side effects asks first. The result belongs to the node it ran.
 * A pinned node does not run (as in n8n, its output is its pin): the hook says it showed the pin,
 * and runs it for real only when asked to ignore the pin ("Run anyway").
 */
import { useCallback, useState } from 'react';
import { post } from '../api/client';
import type { components } from '../api/schema';
import type { Definition, JsonValue } from '../api/types';

export type NodeTestRun = Omit<components['schemas']['NodeTestRun'], 'input' | 'output' | 'set_vars' | 'pause'> & {
  input: JsonValue;
  output: JsonValue;
  set_vars: JsonValue;
  pause: { kind: string; resume_at: string | null } | null;
};

export interface NodeTestRequest {
  nodeId: string;
  isTrigger: boolean;
  sideEffects: boolean;
  label: string;
  definition: Definition;
  executionId: string | null;
  /** What the node gets: for a trigger, the payload it starts with. */
  input: JsonValue | undefined;
  /** Pinned trigger data, for the `trigger.*` of other nodes. */
  trigger?: JsonValue;
  /** The node's own pinned output: shown instead of running the node, unless the pin is ignored. */
  pinned?: JsonValue;
}

/** What "Run this node" does: show the node's pin (a pinned node does not run), or run it on the server. */
export function nodeTestPlan(r: Pick<NodeTestRequest, 'pinned'>, ignorePin: boolean): 'show-pin' | 'run' {
  return r.pinned !== undefined && !ignorePin ? 'show-pin' : 'run';
}

/** The request body: the input goes where the node reads it (a trigger's output is its payload). */
export function nodeTestBody(r: NodeTestRequest, confirmed: boolean) {
  const scope: Record<string, JsonValue> = {};
  if (r.trigger !== undefined && !r.isTrigger) scope.trigger = r.trigger;
  if (r.input !== undefined) scope[r.isTrigger ? 'trigger' : 'input'] = r.input;
  return { node_id: r.nodeId, definition: r.definition, execution: r.executionId, scope, confirm_side_effects: confirmed };
}

export function useNodeTest(schemaId: string) {
  const [result, setResult] = useState<NodeTestRun | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** The last "Run this node" met a pin and showed it instead of running. */
  const [showedPin, setShowedPin] = useState(false);
  const run = useCallback(
    async (r: NodeTestRequest, confirm: (message: string) => boolean, ignorePin = false) => {
      if (nodeTestPlan(r, ignorePin) === 'show-pin') {
        setResult(null);
        setError(null);
        setShowedPin(true);
        return;
      }
      setShowedPin(false);
      let confirmed = false;
      if (r.sideEffects) {
        confirmed = confirm(`${r.label} has side effects: running it acts on the outside world for real (it calls the URL, sends the data). Run it?`);
        if (!confirmed) return;
      }
      setRunning(true);
      setError(null);
      try {
        setResult(await post<NodeTestRun>(`/schemas/${schemaId}/test-node/`, nodeTestBody(r, confirmed)));
      } catch (e) {
        setResult(null);
        setError((e as Error).message);
      } finally {
        setRunning(false);
      }
    },
    [schemaId],
  );
  const clear = useCallback(() => {
    setResult(null);
    setError(null);
    setShowedPin(false);
  }, []);
  return { result, running, error, showedPin, run, clear };
}
