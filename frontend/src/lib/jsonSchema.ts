/** Helpers for the JSON-Schema-generated config forms: types, defaults and path access. */
import type { JsonObject, JsonSchema, JsonValue } from '../api/types';

export type FieldKind = 'string' | 'number' | 'integer' | 'boolean' | 'enum' | 'object' | 'map' | 'array' | 'mixed' | 'json';

export function primaryType(schema: JsonSchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null');
  return schema.type;
}

export function fieldKind(schema: JsonSchema): FieldKind {
  if (Array.isArray(schema.enum)) return 'enum';
  const t = primaryType(schema);
  switch (t) {
    case 'string':
    case 'number':
    case 'integer':
    case 'boolean':
    case 'array':
      return t;
    case 'object':
      if (schema.properties) return 'object';
      return isScalarSchema(schema.additionalProperties) ? 'map' : 'json';
    default:
      if (schema.properties) return 'object';
      // Untyped expression fields and scalar unions (`anyOf: [number, string]`): one text box
      // that keeps expressions as strings and JSON literals (42, true) as values.
      if (schema['x-expression'] || (Array.isArray(schema.anyOf) && (schema.anyOf as JsonSchema[]).every(isScalarSchema))) return 'mixed';
      return 'json';
  }
}

function isScalarSchema(s: unknown): boolean {
  if (!s || typeof s !== 'object') return false;
  const t = primaryType(s as JsonSchema);
  return t === 'string' || t === 'number' || t === 'integer' || t === 'boolean';
}

/** Text of a mixed (expression-or-literal) value as the user edits it. */
export function mixedToText(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Text → value: expressions and plain words stay strings; JSON literals become values. */
export function textToMixed(text: string): JsonValue {
  const t = text.trim();
  if (t === '' || t.includes('{{')) return text;
  if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(t) || /^[[{"]/.test(t)) {
    try {
      return JSON.parse(t) as JsonValue;
    } catch {
      return text;
    }
  }
  return text;
}

/** A value to start from: the schema default, else the empty value of its type. */
export function defaultFor(schema: JsonSchema): JsonValue {
  if (schema.default !== undefined) return structuredClone(schema.default);
  switch (fieldKind(schema)) {
    case 'enum':
      return (schema.enum?.[0] ?? null) as JsonValue;
    case 'object': {
      const out: JsonObject = {};
      const required = new Set(schema.required ?? []);
      for (const [key, sub] of Object.entries(schema.properties ?? {})) {
        if (required.has(key) || sub.default !== undefined) out[key] = defaultFor(sub);
      }
      return out;
    }
    case 'array':
      return [];
    case 'map':
      return {};
    case 'mixed':
      return '';
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'number':
    case 'integer':
      return (schema.minimum as number | undefined) ?? 0;
    default:
      return primaryType(schema) === 'object' ? {} : null;
  }
}

/** Initial config for a new node of a type. */
export function defaultConfig(schema: JsonSchema | undefined): JsonObject {
  if (!schema) return {};
  const v = defaultFor({ ...schema, type: 'object' });
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

export type PathPart = string | number;

/** `config.cases[1].port` → ['config', 'cases', 1, 'port'] */
export function parsePath(path: string): PathPart[] {
  const parts: PathPart[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) parts.push(Number(m[2]));
    else if (m[1] !== undefined) parts.push(/^\d+$/.test(m[1]) ? Number(m[1]) : m[1]);
  }
  return parts;
}

export function formatPath(parts: readonly PathPart[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Immutable set at a path; creates objects/arrays on the way as the next key's type asks. */
export function setIn(target: JsonValue | undefined, parts: readonly PathPart[], value: JsonValue): JsonValue {
  if (!parts.length) return value;
  const [head, ...rest] = parts as [PathPart, ...PathPart[]];
  if (typeof head === 'number') {
    const arr = Array.isArray(target) ? [...target] : [];
    arr[head] = setIn(arr[head], rest, value);
    return arr;
  }
  const obj: JsonObject = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  obj[head] = setIn(obj[head], rest, value);
  return obj;
}
