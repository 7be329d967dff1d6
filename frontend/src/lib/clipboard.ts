/**
 * Copy and paste of canvas nodes as JSON on the system clipboard, so a selection moves between
 * schemas (and tabs). The copied text is a small definition: the selected nodes and the edges
 * between them. Pasting gives every node a free id (expressions of the pasted nodes follow the
 * rename) and places the copies a little down and right of the originals. Pure.
 */
import type { DefinitionEdge, DefinitionNode } from '../api/types';
import { edgeId, uniqueId } from './graph';

export const CLIPBOARD_KIND = 'schema-editor/nodes';

export interface Clip {
  nodes: DefinitionNode[];
  edges: DefinitionEdge[];
}

export function clipText(nodes: readonly DefinitionNode[], edges: readonly DefinitionEdge[]): string {
  const ids = new Set(nodes.map((n) => n.id));
  const inside = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  return JSON.stringify({ kind: CLIPBOARD_KIND, nodes, edges: inside }, null, 2);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The nodes and edges of a copied text, or null when it is not ours (any other text on the clipboard). */
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
  return nodes.length ? { nodes, edges } : null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The clip ready to add beside `takenIds`: fresh ids, expressions and edges renamed, positions shifted. */
export function pastePlan(clip: Clip, takenIds: Iterable<string>, takenEdgeIds: Iterable<string>, offset = { x: 40, y: 40 }): Clip {
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
  return { nodes, edges };
}
