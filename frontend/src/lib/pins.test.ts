import { describe, expect, it } from 'vitest';
import { fromCanvas, toCanvas } from './mapping';
import { pinnedOf, pinnedTrigger, pinsBody, pinsOf, withPin } from './pins';
import { inputFor, scopeData } from './expressionScope';
import { samePins } from '../hooks/useStablePins';
import type { ExecutionStep } from '../api/types';

describe('pinned test data', () => {
  it('is kept on the trigger node and survives a save round trip', () => {
    const { nodes, edges } = toCanvas({ nodes: [{ id: 'start', type: 'manual_trigger', pinned_data: { a: 1 } } as never], edges: [] });
    expect(pinnedOf(nodes[0]!.data)).toEqual({ a: 1 });
    expect(fromCanvas(nodes, edges, {}).nodes[0]).toMatchObject({ id: 'start', pinned_data: { a: 1 } });
  });

  it('is set and removed without touching other unknown keys', () => {
    expect(withPin({ extra: { note: 'x' } }, { b: 2 })).toEqual({ note: 'x', pinned_data: { b: 2 } });
    expect(withPin({ extra: { note: 'x', pinned_data: 1 } }, undefined)).toEqual({ note: 'x' });
    expect(withPin({ extra: { pinned_data: 1 } }, undefined)).toBeUndefined();
  });

  it('is found on the trigger only', () => {
    const { nodes } = toCanvas({
      nodes: [{ id: 'log', type: 'log', pinned_data: 5 } as never, { id: 'start', type: 'manual_trigger', pinned_data: { a: 1 } } as never],
      edges: [],
    });
    expect(pinnedTrigger(nodes, (t) => t === 'manual_trigger')).toEqual({ a: 1 });
    expect(pinnedTrigger(nodes, () => false)).toBeUndefined();
  });

  it('is found on any node, and stands in for its output in the inputs and scope of the nodes after it', () => {
    const def = {
      nodes: [
        { id: 'start', type: 'manual_trigger' },
        { id: 'fetch', type: 'http_request', pinned_data: { status: 200, body: [1, 2] } } as never,
        { id: 'shape', type: 'set' },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'fetch' },
        { id: 'e2', source: 'fetch', target: 'shape' },
      ],
    };
    const pins = pinsOf(toCanvas(def).nodes);
    expect([...pins.keys()]).toEqual(['fetch']);
    expect(pinsBody(pins)).toEqual({ fetch: { status: 200, body: [1, 2] } });
    expect(pinsBody(new Map())).toBeUndefined();
    // `shape` ran in the loaded run with the real answer; the pin wins (what a test run would use).
    type Step = Pick<ExecutionStep, 'input' | 'output' | 'status'>;
    const steps = new Map<string, Step>([
      ['fetch', { input: {}, output: { status: 500 }, status: 'success' }],
      ['shape', { input: { status: 500 }, output: {}, status: 'success' }],
    ]);
    expect(inputFor('shape', def.edges, steps, pins)).toEqual({ value: { status: 200, body: [1, 2] }, ran: false });
    expect(inputFor('shape', def.edges, steps)).toEqual({ value: { status: 500 }, ran: true });
    const scope = scopeData({ definition: def, nodeId: 'shape', stepByNode: steps, pins });
    expect(scope.nodes).toEqual({ start: { output: null }, fetch: { output: { status: 200, body: [1, 2] } } });
  });

  it('keeps one Map while no pin changes (a drag does not recompute the scope)', () => {
    const a = { x: 1 };
    expect(samePins(new Map([['n', a]]), new Map([['n', a]]))).toBe(true);
    expect(samePins(new Map([['n', a]]), new Map([['n', { x: 1 }]]))).toBe(false);
    expect(samePins(new Map([['n', a]]), new Map())).toBe(false);
  });
});
