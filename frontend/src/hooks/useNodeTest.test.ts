import { describe, expect, it } from 'vitest';
import type { Definition } from '../api/types';
import { nodeTestBody, nodeTestPlan, type NodeTestRequest } from './useNodeTest';

const definition: Definition = {
  nodes: [
    { id: 'start', type: 'manual_trigger', position: { x: 0, y: 0 } },
    { id: 'call', type: 'http_request', config: { url: 'http://api.test/orders' }, position: { x: 300, y: 0 } },
  ],
  edges: [{ id: 'e1', source: 'start', target: 'call' }],
};
const request: NodeTestRequest = {
  nodeId: 'call',
  isTrigger: false,
  sideEffects: true,
  label: 'Call the API',
  definition,
  executionId: null,
  input: { orders: [1, 2] },
  trigger: { orders: [1, 2] },
  pinned: { status: 201 },
};

describe('"Run this node" on a pinned node', () => {
  it('shows the pin instead of running the node (its output is its pinned data)', () => {
    expect(nodeTestPlan(request, false)).toBe('show-pin');
  });

  it('runs it for real only when asked to ignore the pin, and a node without a pin always runs', () => {
    expect(nodeTestPlan(request, true)).toBe('run');
    expect(nodeTestPlan({ pinned: undefined }, false)).toBe('run');
    // `null` is data a user can pin: still a pin.
    expect(nodeTestPlan({ pinned: null }, false)).toBe('show-pin');
  });

  it('"Run anyway" sends the input, not the pin, so the node really runs on it', () => {
    expect(nodeTestBody(request, true)).toEqual({
      node_id: 'call',
      definition,
      execution: null,
      scope: { trigger: { orders: [1, 2] }, input: { orders: [1, 2] } },
      confirm_side_effects: true,
    });
  });
});
