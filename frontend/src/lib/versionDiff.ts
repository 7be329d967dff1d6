/**
 * What changed between two versions of a definition, said the way a user reads a schema: nodes
 * (by name) added, removed, or changed field by field; connections added or removed; variables and
 * execution settings; sticky notes added, removed or reworded. Moves on the canvas are counted
 * apart (they change no behaviour). Pure.
 */
import type { Definition, DefinitionEdge, DefinitionNode, DefinitionNote } from '../api/types';
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

/** A sticky note added, removed or reworded: notes have no name, so the text is what a user recognises. */
export interface NoteDiff {
  id: string;
  kind: 'added' | 'removed' | 'changed';
  /** The text before (removed, changed) and after (added, changed). */
  before?: string;
  after?: string;
}

export interface DefinitionDiff {
  nodes: NodeDiff[];
  notes: NoteDiff[];
  edges: { kind: 'added' | 'removed'; label: string }[];
  variables: ValueChange[];
  settings: ValueChange[];
  /** Names of nodes (and the first words of notes) that only moved or were resized on the canvas. */
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
  const notes = notesDiff(before.notes ?? [], after.notes ?? [], moved);
  const same = !nodes.length && !notes.length && !edges.length && !variables.length && !settings.length;
  return { nodes, notes, edges, variables, settings, moved, same };
}

/** How a note is named in a list: its first words (an empty note says so). */
export function noteLabel(text: string | undefined, max = 40): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  if (!flat) return 'empty note';
  return `note “${flat.length > max ? `${flat.slice(0, max - 1)}…` : flat}”`;
}

/** Notes added, removed or reworded; those only moved or resized are pushed on `moved`. */
function notesDiff(before: readonly DefinitionNote[], after: readonly DefinitionNote[], moved: string[]): NoteDiff[] {
  const old = new Map(before.map((n) => [n.id, n]));
  const now = new Set(after.map((n) => n.id));
  const out: NoteDiff[] = [];
  for (const n of after) {
    const o = old.get(n.id);
    if (!o) out.push({ id: n.id, kind: 'added', after: n.text });
    else if (o.text !== n.text) out.push({ id: n.id, kind: 'changed', before: o.text, after: n.text });
    else if (JSON.stringify([o.position, o.width, o.height]) !== JSON.stringify([n.position, n.width, n.height])) moved.push(noteLabel(n.text));
  }
  for (const o of before) if (!now.has(o.id)) out.push({ id: o.id, kind: 'removed', before: o.text });
  return out;
}
