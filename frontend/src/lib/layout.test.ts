import { describe, expect, it } from 'vitest';
import { freeSlot, layeredLayout, slotAfter } from './layout';

describe('layeredLayout', () => {
  it('puts each node right of its parents', () => {
    const edges = [
      { source: 't', target: 'a' },
      { source: 'a', target: 'c' },
      { source: 'c', target: 'yes' },
      { source: 'c', target: 'no' },
      { source: 't', target: 'yes' },
    ];
    const pos = layeredLayout(['yes', 'no', 'c', 'a', 't'], edges, { layerGap: 100, rowGap: 50 });
    for (const e of edges) expect(pos.get(e.target)!.x).toBeGreaterThan(pos.get(e.source)!.x);
    expect(pos.get('t')!.x).toBe(0);
    expect(pos.get('yes')!.x).toBe(300);
    expect(pos.get('yes')!.x).toBe(pos.get('no')!.x);
    expect(pos.get('yes')!.y).not.toBe(pos.get('no')!.y);
  });
  it('survives cycles and isolated nodes, gives every node a distinct slot', () => {
    const pos = layeredLayout(['a', 'b', 'c', 'lonely'], [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c' },
      { source: 'c', target: 'a' },
      { source: 'b', target: 'b' },
      { source: 'b', target: 'ghost' },
    ]);
    expect(pos.size).toBe(4);
    const slots = new Set([...pos.values()].map((p) => `${p.x},${p.y}`));
    expect(slots.size).toBe(4);
    expect(pos.get('b')!.x).toBeGreaterThan(pos.get('a')!.x);
  });
  it('orders a layer by its parents (no crossing for parallel chains)', () => {
    const pos = layeredLayout(['r1', 'r2', 'x2', 'x1'], [
      { source: 'r1', target: 'x1' },
      { source: 'r2', target: 'x2' },
    ]);
    expect(pos.get('r1')!.y < pos.get('r2')!.y).toBe(pos.get('x1')!.y < pos.get('x2')!.y);
  });
  it('handles an empty graph', () => {
    expect(layeredLayout([], []).size).toBe(0);
  });
});

describe('placing a new node', () => {
  it('goes one layer right of the node it follows', () => {
    expect(slotAfter({ x: 0, y: 0 }, [{ x: 0, y: 0 }])).toEqual({ x: 280, y: 0 });
  });
  it('never lands on another node: the next free row, below first', () => {
    const occupied = [{ x: 0, y: 0 }, { x: 280, y: 0 }];
    expect(slotAfter({ x: 0, y: 0 }, occupied)).toEqual({ x: 280, y: 130 });
    expect(slotAfter({ x: 0, y: 0 }, [...occupied, { x: 290, y: 140 }])).toEqual({ x: 280, y: -130 });
  });
  it('moves off a node that only overlaps partly', () => {
    expect(freeSlot({ x: 100, y: 100 }, [{ x: 150, y: 120 }])).toEqual({ x: 100, y: 230 });
    expect(freeSlot({ x: 100, y: 100 }, [{ x: 400, y: 100 }])).toEqual({ x: 100, y: 100 });
  });
});
