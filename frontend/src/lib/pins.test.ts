import { describe, expect, it } from 'vitest';
import { fromCanvas, toCanvas } from './mapping';
import { pinnedOf, pinnedTrigger, withPin } from './pins';

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
});
