/**
 * What changed between two versions of a definition, said the way a user reads a schema: nodes
 * (by name) added, removed, or changed field by field; connections added or removed; variables and
 * execution settings. Moves on the canvas are counted apart (they change no behaviour). Pure.
 */
import type { Definition, DefinitionEdge, DefinitionNode } from '../api/types';
import { DEFAULT_PORT } from './graph';

export interface ValueChange {
  /** Dotted path inside the node, the variables or the settings: `config.message`, `retry.max_attempts`. */
  path: string;
  before: unknown;
  after: unknown;
}

export interface NodeDiff {
  id: string;
  name: string;
  kind: 'added' | 'removed' | 'changed';
  changes: ValueChange[];
}

export interface DefinitionDiff {
  nodes: NodeDiff[];
  edges: { kind: 'added' | 'removed'; label: string }[];
  variables: ValueChange[];
  settings: ValueChange[];
  /** Names of nodes that only moved on the canvas. */
  moved: string[];
  /** Nothing but moves (or nothing at all). */
  same: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaf-level differences of two JSON values, paths joined with dots (`a.b[2].c`). */
export function valueChanges(before: unknown, after: unknown, path = ''): ValueChange[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => valueChanges(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => valueChanges(b, after[i], `${path}[${i}]`));
  }
  return [{ path, before, after }];
}

const nodeName = (n: DefinitionNode) => n.name || n.id;
const BEHAVIOUR = (n: DefinitionNode) => {
  const { position: _position, ...rest } = n;
  return rest;
};

export function definitionDiff(before: Definition, after: Definition): DefinitionDiff {
  const old = new Map((before.nodes ?? []).map((n) => [n.id, n]));
  const now = new Map((after.nodes ?? []).map((n) => [n.id, n]));
  const nodes: NodeDiff[] = [];
  const moved: string[] = [];
  for (const n of after.nodes ?? []) {
    const o = old.get(n.id);
    if (!o) {
      nodes.push({ id: n.id, name: nodeName(n), kind: 'added', changes: [] });
      continue;
    }
    const changes = valueChanges(BEHAVIOUR(o), BEHAVIOUR(n));
    if (changes.length) nodes.push({ id: n.id, name: nodeName(n), kind: 'changed', changes });
    else if (JSON.stringify(o.position) !== JSON.stringify(n.position)) moved.push(nodeName(n));
  }
  for (const o of before.nodes ?? []) if (!now.has(o.id)) nodes.push({ id: o.id, name: nodeName(o), kind: 'removed', changes: [] });

  const names = new Map([...old, ...now].map(([id, n]) => [id, nodeName(n)]));
  const key = (e: DefinitionEdge) => `${e.source}\u0000${e.source_port ?? DEFAULT_PORT}\u0000${e.target}`;
  const label = (e: DefinitionEdge) => {
    const port = e.source_port ?? DEFAULT_PORT;
    return `${names.get(e.source) ?? e.source}${port === DEFAULT_PORT ? '' : ` (${port})`} → ${names.get(e.target) ?? e.target}`;
  };
  const oldEdges = new Set((before.edges ?? []).map(key));
  const newEdges = new Set((after.edges ?? []).map(key));
  const edges = [
    ...(after.edges ?? []).filter((e) => !oldEdges.has(key(e))).map((e) => ({ kind: 'added' as const, label: label(e) })),
    ...(before.edges ?? []).filter((e) => !newEdges.has(key(e))).map((e) => ({ kind: 'removed' as const, label: label(e) })),
  ];
  const variables = valueChanges(before.variables ?? {}, after.variables ?? {});
  const settings = valueChanges(before.settings ?? {}, after.settings ?? {});
  return { nodes, edges, variables, settings, moved, same: !nodes.length && !edges.length && !variables.length && !settings.length };
}
