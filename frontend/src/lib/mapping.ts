/**
 * Definition ⇄ canvas. The canvas holds React Flow nodes/edges; the definition is what the API
 * stores. The mapping keeps ids, ports, positions, config, retry, on_error and any key it does
 * not know, so a load → save round trip changes nothing. Sticky notes (`definition.notes`) are
 * canvas nodes of their own kind, kept apart from the schema's nodes.
 */
import type { Edge, Node } from '@xyflow/react';
import type { Definition, DefinitionEdge, DefinitionNode, DefinitionNote, JsonObject, OnError, RetryPolicy } from '../api/types';
import { DEFAULT_PORT } from './graph';
import { spreadPiled } from './layout';

export const NODE_KIND = 'schema' as const;
export const NOTE_KIND = 'note' as const;
export const NOTE_SIZE = { width: 240, height: 140 };
/** Notes lie under the edges and nodes they annotate (selected, React Flow lifts them to edit). */
export const NOTE_Z = -1;
export const INPUT_HANDLE = 'in';

export type SchemaNodeData = {
  type: string;
  name: string;
  config: JsonObject;
  retry?: RetryPolicy;
  on_error?: OnError;
  /** Keys of the definition node this editor does not know; written back unchanged. */
  extra?: Record<string, unknown>;
};

export type CanvasNode = Node<SchemaNodeData, typeof NODE_KIND>;
export type NoteData = { text: string; extra?: Record<string, unknown> };
export type CanvasNote = Node<NoteData, typeof NOTE_KIND>;
/** What the editor's canvas draws: schema nodes and sticky notes. */
export type AnyCanvasNode = CanvasNode | CanvasNote;
export type CanvasEdge = Edge<{ extra?: Record<string, unknown> }>;

const NODE_KEYS = new Set(['id', 'type', 'name', 'config', 'position', 'retry', 'on_error']);
const EDGE_KEYS = new Set(['id', 'source', 'target', 'source_port']);

function extraOf(obj: object, known: Set<string>): Record<string, unknown> | undefined {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!known.has(k)) extra[k] = v;
  return Object.keys(extra).length ? extra : undefined;
}

export function toCanvasNode(n: DefinitionNode): CanvasNode {
  const data: SchemaNodeData = { type: n.type, name: n.name ?? '', config: n.config ?? {} };
  if (n.retry) data.retry = n.retry;
  if (n.on_error) data.on_error = n.on_error;
  const extra = extraOf(n, NODE_KEYS);
  if (extra) data.extra = extra;
  return {
    id: n.id,
    type: NODE_KIND,
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    data,
  };
}

export function toCanvasEdge(e: DefinitionEdge): CanvasEdge {
  const edge: CanvasEdge = {
    id: e.id,
    source: e.source,
    target: e.target,
    sourceHandle: e.source_port ?? DEFAULT_PORT,
    targetHandle: INPUT_HANDLE,
  };
  const extra = extraOf(e, EDGE_KEYS);
  if (extra) edge.data = { extra };
  return edge;
}

const NOTE_KEYS = new Set(['id', 'text', 'position', 'width', 'height']);

export function toCanvasNote(n: DefinitionNote): CanvasNote {
  const data: NoteData = { text: typeof n.text === 'string' ? n.text : '' };
  const extra = extraOf(n, NOTE_KEYS);
  if (extra) data.extra = extra;
  return {
    id: n.id,
    type: NOTE_KIND,
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    width: n.width ?? NOTE_SIZE.width,
    height: n.height ?? NOTE_SIZE.height,
    zIndex: NOTE_Z,
    data,
  };
}

export function fromCanvasNote(n: CanvasNote): DefinitionNote {
  return {
    ...(n.data.extra ?? {}),
    id: n.id,
    text: n.data.text,
    position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    width: Math.round(n.width ?? NOTE_SIZE.width),
    height: Math.round(n.height ?? NOTE_SIZE.height),
  };
}

export function toCanvas(def: Definition): { nodes: CanvasNode[]; edges: CanvasEdge[]; notes: CanvasNote[] } {
  let nodes = (def.nodes ?? []).map(toCanvasNode);
  const edges = (def.edges ?? []).map(toCanvasEdge);
  // A definition made through the API often has every node at (0, 0): open it spread out.
  const spread = spreadPiled(nodes, edges);
  if (spread) nodes = nodes.map((n) => ({ ...n, position: spread.get(n.id) ?? n.position }));
  return { nodes, edges, notes: (Array.isArray(def.notes) ? def.notes : []).map(toCanvasNote) };
}

export function fromCanvasNode(n: CanvasNode): DefinitionNode {
  const { type, name, config, retry, on_error, extra } = n.data;
  const out: DefinitionNode = {
    ...(extra ?? {}),
    id: n.id,
    type,
    name,
    config,
    position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
  };
  if (retry) out.retry = retry;
  if (on_error) out.on_error = on_error;
  return out;
}

export function fromCanvasEdge(e: CanvasEdge): DefinitionEdge {
  return {
    ...(e.data?.extra ?? {}),
    id: e.id,
    source: e.source,
    target: e.target,
    source_port: e.sourceHandle ?? DEFAULT_PORT,
  };
}

/** The definition on screen; `notes` only when there are some (a schema without notes round-trips unchanged). */
export function fromCanvas(nodes: readonly CanvasNode[], edges: readonly CanvasEdge[], variables: JsonObject, notes: readonly CanvasNote[] = []): Definition {
  const def: Definition = { nodes: nodes.map(fromCanvasNode), edges: edges.map(fromCanvasEdge), variables };
  if (notes.length) def.notes = notes.map(fromCanvasNote);
  return def;
}
