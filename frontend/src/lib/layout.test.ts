import { describe, expect, it } from 'vitest';
import { elkLayout, freeSlot, noteSlot, slotAfter, spreadPiled, type LayoutEdge, type LayoutNode } from './layout';

const box = (id: string, ports: string[] = ['out'], height = 60): LayoutNode => ({ id, width: 220, height, ports });
const overlaps = (pos: Map<string, { x: number; y: number }>, nodes: LayoutNode[]) => {
  const r = nodes.map((n) => ({ ...pos.get(n.id)!, w: n.width!, h: n.height! }));
  for (let i = 0; i < r.length; i++)
    for (let j = i + 1; j < r.length; j++) {
      const a = r[i]!;
      const b = r[j]!;
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) return true;
    }
  return false;
};

describe('elkLayout', () => {
  it('lays parallel branches and their merge left to right, in port order, without overlap', async () => {
    // trigger → condition; true → a1 → a2, false → b1; both → merge → end
    const nodes = [box('t'), box('c', ['true', 'false'], 90), box('a1'), box('a2'), box('b1'), box('m'), box('end', [])];
    const edges: LayoutEdge[] = [
      { source: 't', target: 'c' },
      { source: 'c', target: 'b1', sourceHandle: 'false' },
      { source: 'c', target: 'a1', sourceHandle: 'true' },
      { source: 'a1', target: 'a2' },
      { source: 'a2', target: 'm' },
      { source: 'b1', target: 'm' },
      { source: 'm', target: 'end' },
    ];
    const pos = await elkLayout(nodes, edges);
    expect(pos.size).toBe(nodes.length);
    for (const e of edges) expect(pos.get(e.target)!.x).toBeGreaterThan(pos.get(e.source)!.x);
    // The true branch leaves from the upper port: it stays above the false branch.
    expect(pos.get('a1')!.y).toBeLessThan(pos.get('b1')!.y);
    // The merge waits for the longer branch.
    expect(pos.get('m')!.x).toBeGreaterThan(pos.get('a2')!.x);
    expect(overlaps(pos, nodes)).toBe(false);
  });

  it('uses each node size: a tall node pushes its neighbours apart', async () => {
    const nodes = [box('t'), box('s', ['a', 'b', 'c'], 300), box('x'), box('y'), box('z')];
    const edges = ['x', 'y', 'z'].map((t, i) => ({ source: 's', target: t, sourceHandle: ['a', 'b', 'c'][i] }));
    const pos = await elkLayout(nodes, [{ source: 't', target: 's' }, ...edges]);
    expect(overlaps(pos, nodes)).toBe(false);
    expect(pos.get('x')!.y).toBeLessThan(pos.get('y')!.y);
    expect(pos.get('y')!.y).toBeLessThan(pos.get('z')!.y);
  });

  it('survives cycles, self loops, edges to unknown nodes, stale ports and isolated nodes', async () => {
    const nodes = [box('a'), box('b'), box('c'), box('lonely')];
    const pos = await elkLayout(nodes, [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c', sourceHandle: 'gone' },
      { source: 'c', target: 'a' },
      { source: 'b', target: 'b' },
      { source: 'b', target: 'ghost' },
    ]);
    expect(pos.size).toBe(4);
    expect(overlaps(pos, nodes)).toBe(false);
    expect(pos.get('b')!.x).toBeGreaterThan(pos.get('a')!.x);
  });

  it('handles an empty graph', async () => {
    expect((await elkLayout([], [])).size).toBe(0);
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

  it('puts a sticky note where asked when free, else above the nodes there, then below', () => {
    const note = { width: 240, height: 140 };
    expect(noteSlot({ x: 0, y: 0 }, note, [{ x: 500, y: 0 }])).toEqual({ x: 0, y: 0 });
    expect(noteSlot({ x: 0, y: 0 }, note, [{ x: 100, y: 50, width: 220, height: 60 }])).toEqual({ x: 0, y: -160 });
    expect(noteSlot({ x: 0, y: 0 }, note, [{ x: 100, y: 50 }, { x: 0, y: -160 }])).toEqual({ x: 0, y: 160 });
  });
});

describe('spreadPiled', () => {
  const at = (id: string, x = 0, y = 0) => ({ id, position: { x, y } });
  it('spreads a definition whose nodes all sit at (0, 0) into columns by longest path', () => {
    const nodes = [at('t'), at('a'), at('b'), at('m'), at('done')];
    const edges = [
      { source: 't', target: 'a' },
      { source: 't', target: 'b' },
      { source: 'a', target: 'm' },
      { source: 'b', target: 'm' },
      { source: 'm', target: 'done' },
    ];
    const p = spreadPiled(nodes, edges);
    expect(p && Object.fromEntries(p)).toEqual({
      t: { x: 0, y: 0 },
      a: { x: 300, y: 0 },
      b: { x: 300, y: 140 },
      m: { x: 600, y: 0 },
      done: { x: 900, y: 0 },
    });
    const spots = new Set([...(p ?? new Map()).values()].map((q) => `${q.x},${q.y}`));
    expect(spots.size).toBe(nodes.length); // no two on one spot
  });
  it('never moves a laid-out graph, even with two nodes on one spot', () => {
    expect(spreadPiled([at('t', 0, 0), at('a', 300, 0), at('b', 300, 0), at('c', 600, 0), at('d', 900, 0)], [])).toBeNull();
    expect(spreadPiled([at('t', 0, 0)], [])).toBeNull();
  });
  it('keeps nodes on a cycle and edges to unknown nodes from breaking it', () => {
    const p = spreadPiled([at('a'), at('b'), at('c')], [{ source: 'a', target: 'b' }, { source: 'b', target: 'a' }, { source: 'c', target: 'zz' }]);
    expect(p?.size).toBe(3);
  });
});
