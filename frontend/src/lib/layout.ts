/**
 * Auto-layout: a small layered (Sugiyama-style) layout, left to right. Back edges of cycles
 * are ignored, each node goes one layer right of its furthest parent, and a few barycenter
 * sweeps order each layer to cut crossings. Pure: ids + edges in, positions out.
 */
export interface LayoutOptions {
  layerGap?: number;
  rowGap?: number;
  origin?: { x: number; y: number };
}

export type Positions = Map<string, { x: number; y: number }>;

export function layeredLayout(
  nodeIds: readonly string[],
  edges: readonly { source: string; target: string }[],
  opts: LayoutOptions = {},
): Positions {
  const layerGap = opts.layerGap ?? 280;
  const rowGap = opts.rowGap ?? 130;
  const origin = opts.origin ?? { x: 0, y: 0 };
  const ids = [...nodeIds];
  const known = new Set(ids);
  const children = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (known.has(e.source) && known.has(e.target) && e.source !== e.target) children.get(e.source)!.push(e.target);
  }

  // Drop back edges (DFS from roots first, then whatever is left) so the rest is acyclic.
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const list of children.values()) for (const t of list) indeg.set(t, (indeg.get(t) ?? 0) + 1);
  const state = new Map<string, 0 | 1 | 2>();
  const forward = new Map<string, string[]>(ids.map((id) => [id, []]));
  const visit = (start: string) => {
    const stack: [string, number][] = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [id, i] = top;
      const kids = children.get(id)!;
      if (i < kids.length) {
        top[1]++;
        const k = kids[i]!;
        const s = state.get(k) ?? 0;
        if (s === 1) continue; // back edge
        forward.get(id)!.push(k);
        if (s === 0) {
          state.set(k, 1);
          stack.push([k, 0]);
        }
      } else {
        state.set(id, 2);
        stack.pop();
      }
    }
  };
  for (const id of ids) if ((indeg.get(id) ?? 0) === 0 && !state.get(id)) visit(id);
  for (const id of ids) if (!state.get(id)) visit(id);

  // Longest-path layering in topological order.
  const fin = new Map(ids.map((id) => [id, 0]));
  for (const list of forward.values()) for (const t of list) fin.set(t, (fin.get(t) ?? 0) + 1);
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => fin.get(id) === 0);
  while (queue.length) {
    const id = queue.shift()!;
    for (const t of forward.get(id)!) {
      layer.set(t, Math.max(layer.get(t)!, layer.get(id)! + 1));
      fin.set(t, fin.get(t)! - 1);
      if (fin.get(t) === 0) queue.push(t);
    }
  }

  const layers: string[][] = [];
  for (const id of ids) {
    const l = layer.get(id)!;
    (layers[l] ??= []).push(id);
  }
  const parents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [s, list] of forward) for (const t of list) parents.get(t)!.push(s);

  // Barycenter sweeps (down, then up) keep related nodes on the same rows.
  const index = new Map<string, number>();
  const reindex = () => layers.forEach((l) => l?.forEach((id, i) => index.set(id, i)));
  reindex();
  const bary = (id: string, nbrs: string[]) =>
    nbrs.length ? nbrs.reduce((s, n) => s + index.get(n)!, 0) / nbrs.length : index.get(id)!;
  for (let sweep = 0; sweep < 4; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      const l = layers[li];
      if (!l) continue;
      const keyed = l.map((id) => ({ id, b: bary(id, down ? parents.get(id)! : forward.get(id)!) }));
      keyed.sort((a, b) => a.b - b.b || index.get(a.id)! - index.get(b.id)!);
      layers[li] = keyed.map((k) => k.id);
      reindex();
    }
  }

  const tallest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const positions: Positions = new Map();
  layers.forEach((l, li) => {
    if (!l) return;
    const offset = ((tallest - l.length) * rowGap) / 2;
    l.forEach((id, i) => positions.set(id, { x: origin.x + li * layerGap, y: origin.y + offset + i * rowGap }));
  });
  return positions;
}

/** The space a node takes on the canvas, for placement (a node is 220 px wide, 60–120 px tall). */
export const NODE_BOX = { width: 220, height: 100 };

/**
 * A free spot for a new node at `wanted`, or the nearest one straight above or below it
 * (`rowGap` apart), so that a new node never lands on another.
 */
export function freeSlot(
  wanted: { x: number; y: number },
  occupied: readonly { x: number; y: number }[],
  rowGap = 130,
): { x: number; y: number } {
  const taken = (p: { x: number; y: number }) =>
    occupied.some((o) => Math.abs(o.x - p.x) < NODE_BOX.width && Math.abs(o.y - p.y) < NODE_BOX.height);
  for (let i = 0; i < 1000; i++) {
    // 0, +1, -1, +2, -2, … rows: below first, the way a branch grows.
    const k = i % 2 === 1 ? (i + 1) / 2 : -i / 2;
    const p = { x: wanted.x, y: wanted.y + k * rowGap };
    if (!taken(p)) return p;
  }
  return wanted;
}

/** Where a node added after `anchor` goes: one layer to its right, on a free row. */
export function slotAfter(
  anchor: { x: number; y: number },
  occupied: readonly { x: number; y: number }[],
  layerGap = 280,
): { x: number; y: number } {
  return freeSlot({ x: anchor.x + layerGap, y: anchor.y }, occupied);
}
