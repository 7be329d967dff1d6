/**
 * Auto-layout by ELK's layered algorithm (elkjs, the engine the xyflow docs use), left to right.
 * ELK knows each node's measured size and its ports in display order (input on the west side,
 * output ports top to bottom on the east), so branches leave their port without crossing, merges
 * sit between their inputs and cycles are broken before layering.
 * Pure apart from ELK's promise: nodes + edges in, top-left positions out.
 */
import type { ELK as ElkEngine, ElkNode } from 'elkjs/lib/elk.bundled.js';

export interface LayoutNode {
  id: string;
  width?: number;
  height?: number;
  /** Output ports in the order the node draws them (top to bottom). */
  ports?: readonly string[];
}

export interface LayoutEdge {
  source: string;
  target: string;
  sourceHandle?: string | null;
}

export interface LayoutOptions {
  /** Horizontal gap between layers, in px. */
  layerGap?: number;
  /** Vertical gap between nodes of a layer, in px. */
  rowGap?: number;
}

export type Positions = Map<string, { x: number; y: number }>;

let engine: Promise<ElkEngine> | null = null;
// ELK is 1.4 MB: loaded on the first layout, not with the editor.
const elk = () => (engine ??= import('elkjs/lib/elk.bundled.js').then((m) => new m.default()));
const inPort = (id: string) => `${id}\u0000in`;
const outPort = (id: string, port: string) => `${id}\u0000out\u0000${port}`;

export async function elkLayout(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[], opts: LayoutOptions = {}): Promise<Positions> {
  if (!nodes.length) return new Map();
  const known = new Set(nodes.map((n) => n.id));
  // Ports an edge uses but the node does not list (a stale port) still get a slot, after the others.
  const ports = new Map(nodes.map((n) => [n.id, [...(n.ports ?? [])]]));
  const used = edges.filter((e) => known.has(e.source) && known.has(e.target) && e.source !== e.target);
  for (const e of used) {
    const list = ports.get(e.source)!;
    const port = e.sourceHandle ?? 'out';
    if (!list.includes(port)) list.push(port);
  }
  const graph: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.layered.spacing.nodeNodeBetweenLayers': String(opts.layerGap ?? 80),
      'elk.spacing.nodeNode': String(opts.rowGap ?? 40),
      'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
      'elk.layered.cycleBreaking.strategy': 'DEPTH_FIRST',
      // Keep the order the user drew (the definition's order) when it costs no crossing.
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.separateConnectedComponents': 'true',
      'elk.spacing.componentComponent': '60',
    },
    children: nodes.map((n) => ({
      id: n.id,
      width: n.width ?? NODE_BOX.width,
      height: n.height ?? 60,
      layoutOptions: { 'elk.portConstraints': 'FIXED_ORDER' },
      ports: [
        // Indices run clockwise around the node: east ports top to bottom, then the west input.
        ...ports.get(n.id)!.map((p, i) => ({
          id: outPort(n.id, p),
          width: 1,
          height: 1,
          layoutOptions: { 'elk.port.side': 'EAST', 'elk.port.index': String(i) },
        })),
        { id: inPort(n.id), width: 1, height: 1, layoutOptions: { 'elk.port.side': 'WEST', 'elk.port.index': String(ports.get(n.id)!.length) } },
      ],
    })),
    edges: used.map((e, i) => ({ id: `__e${i}`, sources: [outPort(e.source, e.sourceHandle ?? 'out')], targets: [inPort(e.target)] })),
  };
  const out = await (await elk()).layout(graph);
  const positions: Positions = new Map();
  for (const c of out.children ?? []) positions.set(c.id, { x: Math.round(c.x ?? 0), y: Math.round(c.y ?? 0) });
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

/**
 * A free spot for a box of `size` (a sticky note) at `wanted`, or the nearest one above it, then
 * below (`gap` apart): a note annotates what is under it, so it goes above first.
 */
export function noteSlot(
  wanted: { x: number; y: number },
  size: { width: number; height: number },
  occupied: readonly { x: number; y: number; width?: number; height?: number }[],
  gap = 20,
): { x: number; y: number } {
  const step = size.height + gap;
  const taken = (p: { x: number; y: number }) =>
    occupied.some(
      (o) => p.x < o.x + (o.width ?? NODE_BOX.width) && o.x < p.x + size.width && p.y < o.y + (o.height ?? NODE_BOX.height) && o.y < p.y + size.height,
    );
  for (let i = 0; i < 200; i++) {
    // 0, -1, +1, -2, +2, … rows: above first.
    const k = i % 2 === 1 ? -(i + 1) / 2 : i / 2;
    const p = { x: wanted.x, y: wanted.y + k * step };
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

/**
 * Positions for a graph whose nodes are piled on one another — a definition written by hand or
 * through the API with every node at (0, 0) or without positions — so that it opens readable:
 * each node in the column of its longest path from a node without inputs, in edge order within it.
 * `null` when the nodes are laid out already (fewer than half of them share a spot with another):
 * a user's layout is never moved. Synchronous, so the opened graph and its saved baseline agree;
 * Auto-layout (ELK) remains for a real layout.
 */
export function spreadPiled(
  nodes: readonly { id: string; position: { x: number; y: number } }[],
  edges: readonly LayoutEdge[],
  gaps = { column: 300, row: 140 },
): Positions | null {
  const spots = new Map<string, number>();
  for (const n of nodes) spots.set(`${n.position.x},${n.position.y}`, (spots.get(`${n.position.x},${n.position.y}`) ?? 0) + 1);
  const piled = nodes.filter((n) => (spots.get(`${n.position.x},${n.position.y}`) ?? 0) > 1).length;
  if (piled < 2 || piled * 2 < nodes.length) return null;
  const ids = new Set(nodes.map((n) => n.id));
  const inbound = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  const out = new Map<string, string[]>();
  for (const e of edges) {
    if (!ids.has(e.source) || !ids.has(e.target) || e.source === e.target) continue;
    inbound.set(e.target, (inbound.get(e.target) ?? 0) + 1);
    out.set(e.source, [...(out.get(e.source) ?? []), e.target]);
  }
  // Longest path from a source (Kahn's order); nodes on a cycle keep column 0 after the others.
  const column = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  const left = new Map(inbound);
  const ready = nodes.filter((n) => (left.get(n.id) ?? 0) === 0).map((n) => n.id);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i] as string;
    for (const next of out.get(id) ?? []) {
      column.set(next, Math.max(column.get(next) ?? 0, (column.get(id) ?? 0) + 1));
      left.set(next, (left.get(next) ?? 0) - 1);
      if (left.get(next) === 0) ready.push(next);
    }
  }
  const rows = new Map<number, number>();
  const positions: Positions = new Map();
  for (const n of nodes) {
    const c = column.get(n.id) ?? 0;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    positions.set(n.id, { x: c * gaps.column, y: r * gaps.row });
  }
  return positions;
}
