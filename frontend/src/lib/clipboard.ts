/**
 * Copy and paste of canvas nodes as JSON on the system clipboard, so a selection moves between
 * schemas (and tabs). The copied text is a small definition: the selected nodes, the edges
 * between them and the selected sticky notes. Pasting gives every node and note a free id
 * (expressions of the pasted nodes follow the rename) and places the copies, notes and nodes
 * together, where the user looks: centred on a point of the canvas (the mouse, or the middle of
 * the view), moved off any node they would cover. Pure.
 */
import type { DefinitionEdge, DefinitionNode, DefinitionNote } from '../api/types';
import { edgeId, uniqueId } from './graph';
import { NODE_BOX } from './layout';

type Point = { x: number; y: number };
/** A thing on the canvas: where it is and, for a note, its size (a node is `NODE_BOX`). */
export type Box = Point & { width?: number; height?: number };

export const CLIPBOARD_KIND = 'schema-editor/nodes';

export interface Clip {
  nodes: DefinitionNode[];
  edges: DefinitionEdge[];
  /** Selected sticky notes (a clip of older editors has none). */
  notes?: DefinitionNote[];
}

export function clipText(nodes: readonly DefinitionNode[], edges: readonly DefinitionEdge[], notes: readonly DefinitionNote[] = []): string {
  const ids = new Set(nodes.map((n) => n.id));
  const inside = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  return JSON.stringify({ kind: CLIPBOARD_KIND, nodes, edges: inside, ...(notes.length ? { notes } : {}) }, null, 2);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The nodes, edges and notes of a copied text, or null when it is not ours (any other text on the clipboard). */
export function parseClip(text: string): Clip | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(data) || data.kind !== CLIPBOARD_KIND || !Array.isArray(data.nodes)) return null;
  const nodes = data.nodes.filter((n): n is DefinitionNode => isObj(n) && typeof n.id === 'string' && typeof n.type === 'string');
  const edges = (Array.isArray(data.edges) ? data.edges : []).filter(
    (e): e is DefinitionEdge => isObj(e) && typeof e.source === 'string' && typeof e.target === 'string',
  );
  const notes = (Array.isArray(data.notes) ? data.notes : []).filter((n): n is DefinitionNote => isObj(n) && typeof n.id === 'string' && typeof n.text === 'string');
  return nodes.length || notes.length ? { nodes, edges, notes } : null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const STEP = 40;

/** Where the clip's nodes and notes sit, with the notes' sizes: what `pasteOffset` moves. */
export function clipBoxes(clip: Clip): Box[] {
  return [
    ...clip.nodes.map((n) => ({ x: n.position?.x ?? 0, y: n.position?.y ?? 0 })),
    ...(clip.notes ?? []).map((n) => ({ x: n.position?.x ?? 0, y: n.position?.y ?? 0, width: n.width, height: n.height })),
  ];
}

const right = (p: Box) => p.x + (p.width ?? NODE_BOX.width);
const bottom = (p: Box) => p.y + (p.height ?? NODE_BOX.height);

/** The box around things on the canvas (`null` for none). */
export function boundsOf(boxes: readonly Box[]): { x: number; y: number; width: number; height: number } | null {
  if (!boxes.length) return null;
  const x = Math.min(...boxes.map((p) => p.x));
  const y = Math.min(...boxes.map((p) => p.y));
  return { x, y, width: Math.max(...boxes.map(right)) - x, height: Math.max(...boxes.map(bottom)) - y };
}

/**
 * How far to move the clip's nodes (and notes) so that their box is centred on `at`, then stepped
 * down-right (40 px at a time, a few steps at most) until no copy covers a node or note in
 * `occupied` — pasting where the originals are shows the copies beside them, not on top (a
 * selected note is drawn over the nodes). The editor then pans to copies that end out of view.
 */
export function pasteOffset(positions: readonly Box[], at: Point, occupied: readonly Box[]): Point {
  const box = boundsOf(positions);
  if (!box) return { x: 0, y: 0 };
  const base = { x: Math.round(at.x - (box.x + box.width / 2)), y: Math.round(at.y - (box.y + box.height / 2)) };
  const overlap = (p: Box, o: Box, d: Point) =>
    p.x + d.x < right(o) && o.x < right(p) + d.x && p.y + d.y < bottom(o) && o.y < bottom(p) + d.y;
  const covers = (d: Point) => positions.some((p) => occupied.some((o) => overlap(p, o, d)));
  for (let k = 0; k <= 8; k++) {
    const d = { x: base.x + k * STEP, y: base.y + k * STEP };
    if (!covers(d)) return d;
  }
  // A crowded view: at least never exactly on top of the originals.
  return { x: base.x + STEP, y: base.y + STEP };
}

/**
 * The clip ready to add beside `takenIds` (node and note ids alike): fresh ids, expressions and
 * edges renamed, positions of nodes and notes moved by the same `offset` (see `pasteOffset`).
 */
export function pastePlan(clip: Clip, takenIds: Iterable<string>, takenEdgeIds: Iterable<string>, offset: Point = { x: STEP, y: STEP }): Required<Clip> {
  const taken = new Set(takenIds);
  const rename = new Map<string, string>();
  for (const n of clip.nodes) {
    const id = uniqueId(n.id, taken);
    taken.add(id);
    rename.set(n.id, id);
  }
  const renamed = (text: string) =>
    [...rename].reduce((t, [from, to]) => (from === to ? t : t.replace(new RegExp(`\\bnodes\\.${escape(from)}\\b`, 'g'), `nodes.${to}`)), text);
  const nodes = clip.nodes.map((n) => ({
    ...(JSON.parse(renamed(JSON.stringify(n))) as DefinitionNode),
    id: rename.get(n.id)!,
    position: { x: (n.position?.x ?? 0) + offset.x, y: (n.position?.y ?? 0) + offset.y },
  }));
  const edgeIds = new Set(takenEdgeIds);
  const edges = clip.edges
    .filter((e) => rename.has(e.source) && rename.has(e.target))
    .map((e) => {
      const source = rename.get(e.source)!;
      const target = rename.get(e.target)!;
      const id = edgeId(source, e.source_port ?? 'out', target, edgeIds);
      edgeIds.add(id);
      return { ...e, id, source, target };
    });
  const notes = (clip.notes ?? []).map((n) => {
    const id = uniqueId(n.id, taken);
    taken.add(id);
    return { ...n, id, position: { x: (n.position?.x ?? 0) + offset.x, y: (n.position?.y ?? 0) + offset.y } };
  });
  return { nodes, edges, notes };
}
