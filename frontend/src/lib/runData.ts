/**
 * Pure helpers for showing run data beside the editor: which step of a node to show, how a value
 * is drawn (table, tree, raw) and how much of it at a time. Big values are paged, never drawn
 * whole, so a 5 MB output stays usable.
 */
import type { ExecutionStep, JsonObject, JsonValue } from '../api/types';

/** Children of a tree node, rows of a table, lines of raw text shown per page. */
export const TREE_PAGE = 50;
export const TABLE_PAGE = 25;
export const RAW_PAGE_LINES = 400;
/** Strings longer than this are cut in the tree and the table (the whole text is one click away). */
export const LONG_TEXT = 300;
/** Rows sampled to find a table's columns. */
const COLUMN_SAMPLE = 200;
const MAX_COLUMNS = 30;

export type ValueKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' | 'undefined';

export function kindOf(value: JsonValue | undefined): ValueKind {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value as 'object' | 'string' | 'number' | 'boolean';
}

export const isObject = (value: JsonValue | undefined): value is JsonObject => kindOf(value) === 'object';

/** The latest step of each node (a retried node shows its last attempt). */
export function latestStepByNode<S extends Pick<ExecutionStep, 'node_id'>>(steps: readonly S[]): Map<string, S> {
  const m = new Map<string, S>();
  for (const s of steps) m.set(s.node_id, s);
  return m;
}

/** One page of `total` items: the clamped page number, the slice bounds and the page count. */
export function pageBounds(total: number, page: number, size: number) {
  const pages = Math.max(1, Math.ceil(total / size));
  const current = Math.min(Math.max(0, page), pages - 1);
  return { page: current, pages, start: current * size, end: Math.min(total, (current + 1) * size) };
}

export interface Table {
  columns: string[];
  /** Each row is the original item (an object, or a scalar shown in the `value` column). */
  rows: JsonValue[];
}

/** A value shown as a table: a list of objects (columns from their keys), a list of scalars, or
 * an object (one row per key); `null` when a table would not help. */
export function tableOf(value: JsonValue | undefined): Table | null {
  if (Array.isArray(value)) {
    if (!value.length) return null;
    const cols: string[] = [];
    const seen = new Set<string>();
    let objects = 0;
    for (const item of value.slice(0, COLUMN_SAMPLE)) {
      if (!isObject(item)) continue;
      objects++;
      for (const k of Object.keys(item)) {
        if (!seen.has(k) && cols.length < MAX_COLUMNS) {
          seen.add(k);
          cols.push(k);
        }
      }
    }
    if (objects === 0) return { columns: ['value'], rows: value };
    return { columns: cols, rows: value };
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (!keys.length) return null;
    return { columns: ['key', 'value'], rows: keys.map((k) => ({ key: k, value: value[k] as JsonValue })) };
  }
  return null;
}

/** What the table view draws: the value, or the one list of objects an object holds (`{orders: [...]}`
 * shows its orders, as n8n shows items), with the key path to it. */
export function tableSource(value: JsonValue | undefined): { path: string[]; value: JsonValue | undefined } {
  if (isObject(value)) {
    const keys = Object.keys(value);
    const only = keys.length === 1 ? value[keys[0]!] : undefined;
    if (Array.isArray(only) && only.some(isObject)) return { path: [keys[0]!], value: only };
  }
  return { path: [], value };
}

/** Whether the table is the best first view: a list (of objects or scalars), directly or in `tableSource`. */
export const prefersTable = (value: JsonValue | undefined) => Array.isArray(tableSource(value).value) && tableOf(tableSource(value).value) !== null;

/** What a table cell or a tree leaf shows for a value: scalars as text, containers summarised. */
export function cellText(value: JsonValue | undefined, max = LONG_TEXT): string {
  switch (kindOf(value)) {
    case 'undefined':
      return '';
    case 'string': {
      const s = value as string;
      return s.length > max ? `${s.slice(0, max)}…` : s;
    }
    case 'array':
      return `[${(value as JsonValue[]).length} items]`;
    case 'object':
      return `{${Object.keys(value as JsonObject).length} keys}`;
    default:
      return JSON.stringify(value);
  }
}

/** The short summary after a tree node's key: `{3 keys}`, `[120 items]`. */
export function summary(value: JsonValue | undefined): string {
  if (Array.isArray(value)) return `[${value.length} ${value.length === 1 ? 'item' : 'items'}]`;
  if (isObject(value)) {
    const n = Object.keys(value).length;
    return `{${n} ${n === 1 ? 'key' : 'keys'}}`;
  }
  return cellText(value);
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The expression path to a value inside `root` (`input`, `nodes.fetch.output`, …): dots for
 * identifiers, brackets for indexes and other keys — what a user pastes into `{{ }}`. */
export function expressionPath(root: string, path: readonly (string | number)[]): string {
  let out = root;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (IDENT.test(p)) out += `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** Pretty JSON split in lines, for the raw view (computed once per value, then paged). */
export function rawLines(value: JsonValue | undefined): string[] {
  if (value === undefined) return [];
  return JSON.stringify(value, null, 2).split('\n');
}
