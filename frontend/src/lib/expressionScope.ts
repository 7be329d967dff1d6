/**
 * What an expression of a node can see, for the expression editor's completion: `vars` (schema
 * variables, names set by upstream `set` nodes, the run's variables), `input`, `trigger`,
 * `nodes.<id>.output` of upstream nodes, `execution.id` and `env` (the owner's variables), filled with the values of the loaded
 * run where there are any. Pure functions; the editor builds this once per selected node.
 */
import type { Definition, ExecutionStep, JsonObject, JsonValue } from '../api/types';
import { upstreamOf } from './graph';
import { isObject } from './runData';

/** Names upstream `set` nodes assign (`a.b` assigns `a`), nearest node first. */
export function upstreamVarNames(def: Pick<Definition, 'nodes' | 'edges'>, nodeId: string): string[] {
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  const names: string[] = [];
  for (const id of upstreamOf(nodeId, def.edges)) {
    const n = byId.get(id);
    const list = n?.type === 'set' ? n.config?.assignments : undefined;
    if (!Array.isArray(list)) continue;
    for (const a of list) {
      const name = isObject(a) && typeof a.name === 'string' ? a.name.split('.')[0] : undefined;
      if (name && !names.includes(name)) names.push(name);
    }
  }
  return names;
}

/** The input a node had in the run, or — when it did not run, or a node before it is pinned —
 * the output of the nearest upstream node that did (what it would get next time): a pin first. */
export function inputFor(
  nodeId: string,
  edges: Definition['edges'],
  stepByNode: ReadonlyMap<string, Pick<ExecutionStep, 'input' | 'output' | 'status'>>,
  pins?: ReadonlyMap<string, JsonValue>,
): { value: JsonValue | undefined; ran: boolean } {
  const pinnedParent = pins?.size ? edges.find((e) => e.target === nodeId && pins.has(e.source)) : undefined;
  if (pinnedParent) return { value: pins!.get(pinnedParent.source), ran: false };
  const own = stepByNode.get(nodeId);
  if (own) return { value: own.input as JsonValue, ran: true };
  const parent = edges.find((e) => e.target === nodeId && stepByNode.get(e.source)?.status === 'success');
  return { value: parent ? (stepByNode.get(parent.source)!.output as JsonValue) : undefined, ran: false };
}

export interface ScopeInputs {
  definition: Pick<Definition, 'nodes' | 'edges' | 'variables'>;
  nodeId: string;
  /** Variables of the loaded run (execution context), if any. */
  runVars?: JsonValue;
  trigger?: JsonValue;
  input?: JsonValue;
  stepByNode?: ReadonlyMap<string, Pick<ExecutionStep, 'output' | 'status'>>;
  /** The user's variables (`{{ env.NAME }}`, the Variables page). */
  env?: Readonly<Record<string, string>>;
  /** Pinned outputs: they stand in for the run's. */
  pins?: ReadonlyMap<string, JsonValue>;
}

/** A value whose keys completion offers; `null` where only the name is known (no run yet). */
export function scopeData(s: ScopeInputs): JsonObject {
  const vars: JsonObject = { ...(s.definition.variables ?? {}) };
  for (const name of upstreamVarNames(s.definition, s.nodeId)) if (!(name in vars)) vars[name] = null;
  if (isObject(s.runVars)) Object.assign(vars, s.runVars);
  const nodes: JsonObject = {};
  for (const id of upstreamOf(s.nodeId, s.definition.edges)) {
    const step = s.stepByNode?.get(id);
    const pinned = s.pins?.get(id);
    nodes[id] = { output: pinned !== undefined ? pinned : step && step.status === 'success' ? (step.output as JsonValue) : null };
  }
  return { vars, input: s.input ?? null, trigger: s.trigger ?? null, nodes, execution: { id: null }, env: { ...(s.env ?? {}) } };
}

/** Keys under `path` in `data` (array items are looked into through their first item). */
export function propertiesAt(data: JsonValue, path: readonly string[]): { name: string; value: JsonValue }[] {
  let cur: JsonValue | undefined = data;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else {
      if (Array.isArray(cur)) cur = cur[0]; // `orders.` completes the keys of an order
      cur = isObject(cur) ? cur[seg] : undefined;
    }
    if (cur === undefined) return [];
  }
  if (Array.isArray(cur)) cur = cur[0];
  return isObject(cur) ? Object.keys(cur).slice(0, 200).map((name) => ({ name, value: (cur as JsonObject)[name] as JsonValue })) : [];
}

/** A short text of a value for the completion list: `42`, `"text"`, `{3 keys}`, `[120 items]`. */
export function valueHint(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return `[${value.length} items]`;
  if (isObject(value)) return `{${Object.keys(value).length} keys}`;
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
