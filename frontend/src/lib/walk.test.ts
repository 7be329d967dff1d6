import { describe, expect, it } from 'vitest';
import { walkStatusByNode, walkSummary, type WalkStep } from './walk';
import { runToHereBody } from '../hooks/useRunToHere';

const step = (node_id: string, status: WalkStep['status']): WalkStep => ({
  id: null,
  node_id,
  node_type: 'set',
  status,
  input: null,
  output: null,
  port: 'out',
  pause: null,
  error: null,
  duration_ms: 1,
});
const names = (id: string) => ({ start: 'Orders arrive', count: 'Count orders', call: 'Call the API' })[id] ?? id;

describe('run to here', () => {
  it('colours the nodes of the walk: pinned ones went on like a success', () => {
    const m = walkStatusByNode({ steps: [step('start', 'pinned'), step('count', 'success'), step('call', 'failed')] });
    expect(Object.fromEntries(m)).toEqual({ start: 'success', count: 'success', call: 'failed' });
  });

  it('says how the walk ended, by node names', () => {
    const steps = [step('start', 'pinned'), step('count', 'success')];
    expect(walkSummary({ status: 'success', node_id: 'count', steps }, names)).toBe('Ran up to Count orders: 1 node ran, 1 pinned.');
    expect(walkSummary({ status: 'failed', node_id: 'call', steps: [...steps, step('call', 'failed')] }, names)).toBe(
      'Stopped at Call the API before reaching Call the API: 2 nodes ran, 1 pinned.',
    );
    expect(walkSummary({ status: 'unreached', node_id: 'call', steps }, names)).toBe('No branch taken leads to Call the API: 1 node ran, 1 pinned.');
  });

  it('sends the draft, the loaded run and, only when edited, a payload', () => {
    const definition = { nodes: [], edges: [] };
    expect(runToHereBody({ nodeId: 'count', definition, executionId: 'ex1' }, false)).toEqual({
      node_id: 'count',
      definition,
      execution: 'ex1',
      confirm_side_effects: false,
    });
    expect(runToHereBody({ nodeId: 'count', definition, executionId: null, payload: { a: 1 } }, true)).toMatchObject({ payload: { a: 1 }, confirm_side_effects: true });
  });
});
