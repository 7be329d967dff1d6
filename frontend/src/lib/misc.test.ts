import { describe, expect, it } from 'vitest';
import { emptyHistory, record, redo, undo } from './history';
import { defaultConfig, fieldKind, parsePath, formatPath } from './jsonSchema';
import { placeErrors } from './errors';
import { SPEC_MAP } from './testSpecs';

describe('history', () => {
  it('undoes and redoes; a new change clears redo', () => {
    let h = record(emptyHistory<number>(), 1);
    h = record(h, 2);
    const u = undo(h, 3)!;
    expect(u.value).toBe(2);
    const r = redo(u.history, 2)!;
    expect(r.value).toBe(3);
    expect(record(u.history, 2).future).toEqual([]);
    expect(undo(emptyHistory<number>(), 0)).toBeNull();
  });
});

describe('json schema helpers', () => {
  it('builds a default config from required fields and defaults', () => {
    expect(defaultConfig(SPEC_MAP.get('http_request')!.config_schema)).toEqual({ method: 'GET', url: '', timeout: 10 });
  });
  it('classifies fields', () => {
    expect(fieldKind({ type: ['string', 'null'] })).toBe('string');
    expect(fieldKind({ enum: ['a'] })).toBe('enum');
    expect(fieldKind({ type: 'object' })).toBe('json');
    expect(fieldKind({ type: 'object', properties: {} })).toBe('object');
  });
  it('parses and formats paths', () => {
    expect(parsePath('nodes[2].config.cases[1].port')).toEqual(['nodes', 2, 'config', 'cases', 1, 'port']);
    expect(formatPath(['config', 'cases', 1, 'port'])).toBe('config.cases[1].port');
  });
});

describe('placeErrors', () => {
  const def = { nodes: [{ id: 'a', type: 'log' }, { id: 'fetch', type: 'http_request' }], edges: [{ id: 'e1', source: 'a', target: 'fetch' }] };
  it('places errors on nodes, fields, edges and the rest', () => {
    const p = placeErrors(
      [
        { path: 'nodes[1].config.url', node_id: 'fetch', edge_id: null, message: 'bad url' },
        { path: 'nodes[0].retry.max_attempts', message: 'too many' },
        { path: 'edges[0].target', message: 'dangling' },
        { path: 'nodes', node_id: null, edge_id: null, message: 'missing trigger' },
      ],
      def,
    );
    expect(p.byField.get('fetch')!.get('config.url')).toEqual(['bad url']);
    expect(p.byField.get('a')!.get('retry.max_attempts')).toEqual(['too many']);
    expect(p.byEdge.get('e1')![0]!.message).toBe('dangling');
    expect(p.general.map((e) => e.message)).toEqual(['missing trigger']);
  });
});

import { setIn } from './jsonSchema';
describe('setIn', () => {
  it('sets deep values without touching the input', () => {
    const src = { cases: [{ port: 'a' }, { port: 'b' }], x: 1 };
    const out = setIn(src, ['cases', 1, 'port'], 'c');
    expect(out).toEqual({ cases: [{ port: 'a' }, { port: 'c' }], x: 1 });
    expect(src.cases[1]!.port).toBe('b');
    expect(setIn(undefined, ['a', 0, 'b'], true)).toEqual({ a: [{ b: true }] });
  });
});

import { textToMixed, mixedToText } from './jsonSchema';
describe('mixed expression/literal fields', () => {
  it('classifies untyped expressions, scalar unions and string maps', () => {
    expect(fieldKind({ 'x-expression': true })).toBe('mixed');
    expect(fieldKind({ anyOf: [{ type: 'number' }, { type: 'string', 'x-expression': true }] })).toBe('mixed');
    expect(fieldKind({ type: 'object', additionalProperties: { type: 'string' } })).toBe('map');
  });
  it('keeps expressions and words as strings, literals as values', () => {
    expect(textToMixed('{{ trigger.amount }}')).toBe('{{ trigger.amount }}');
    expect(textToMixed('hello')).toBe('hello');
    expect(textToMixed('42')).toBe(42);
    expect(textToMixed('true')).toBe(true);
    expect(textToMixed('{"a": 1}')).toEqual({ a: 1 });
    expect(textToMixed('{broken')).toBe('{broken');
    expect(mixedToText(42)).toBe('42');
    expect(mixedToText(null)).toBe('');
  });
});
