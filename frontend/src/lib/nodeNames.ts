/**
 * Node names where users read: the engine's and validator's messages name nodes by id
 * (`node 'too_few' failed: …`); shown to a user they name the node as the user called it
 * (`“Too few” failed: …`). Ids stay where they are needed (expressions, the node panel's Id).
 */
import type { Definition, NodeTypeSpec } from '../api/types';
import { DEFAULT_PORT } from './graph';

export interface NodeNames {
  /** The node's name, or its id when it has none (or is unknown). */
  nameOf: (id: string) => string;
  /** A connection as `Source → Target` (with the port when it is not the default), or the edge id. */
  edgeLabel: (id: string) => string;
}

export const idNames: NodeNames = { nameOf: (id) => id, edgeLabel: (id) => id };

export function nodeNames(def: Pick<Definition, 'nodes' | 'edges'> | null | undefined): NodeNames {
  if (!def) return idNames;
  const names = new Map(def.nodes.map((n) => [n.id, n.name?.trim() || n.id]));
  const nameOf = (id: string) => names.get(id) ?? id;
  const edges = new Map(def.edges.map((e) => [e.id, e]));
  const edgeLabel = (id: string) => {
    const e = edges.get(id);
    if (!e) return id;
    const port = e.source_port ?? DEFAULT_PORT;
    return `${nameOf(e.source)}${port === DEFAULT_PORT ? '' : ` (${port})`} → ${nameOf(e.target)}`;
  };
  return { nameOf, edgeLabel };
}

/** The name a canvas node shows: the one the user gave, else its type's label, else its type. */
export function shownName(data: { name?: string; type: string }, spec: Pick<NodeTypeSpec, 'label'> | undefined): string {
  return data.name?.trim() || spec?.label || data.type;
}

/** What assistive technology reads for a connection on the canvas: its ends by name, and the port unless it is the default. */
export function edgeAriaLabel(sourceName: string, port: string, targetName: string): string {
  return `Connection from ${sourceName}${port === DEFAULT_PORT ? '' : ` (${port})`} to ${targetName}`;
}

/** A handle's tooltip: which node's input, or which output port of it, by the node's name. */
export function portTitle(name: string, port: string | null, joinsMany = false): string {
  if (port === null) return joinsMany ? `${name}: input (joins every branch connected here)` : `${name}: input`;
  return port === DEFAULT_PORT ? `${name}: output` : `${name}: output “${port}”`;
}

// `node 'id'` and `node "id"` as the engine writes them (Python's repr of the id), also opening a sentence.
const NODE_REF = /\b[Nn]ode (['"])([^'"\n]{1,255})\1/g;

/** `text` with each `node 'id'` of a known node written as `“Name”`. */
export function withNodeNames(text: string, nameOf: (id: string) => string): string {
  return text.replace(NODE_REF, (whole, _q: string, id: string) => {
    const name = nameOf(id);
    return name === id ? whole : `“${name}”`;
  });
}
