import { describe, expect, it } from 'vitest';
import { cellText, expressionPath, latestStepByNode, pageBounds, prefersTable, rawLines, summary, tableOf, tableSource } from './runData';

describe('run data helpers', () => {
  it('keeps the last step of a retried node', () => {
    const m = latestStepByNode([
      { node_id: 'a', attempt: 1 },
      { node_id: 'b', attempt: 1 },
      { node_id: 'a', attempt: 2 },
    ]);
    expect(m.get('a')?.attempt).toBe(2);
    expect([...m.keys()]).toEqual(['a', 'b']);
  });

  it('pages clamp to what exists', () => {
    expect(pageBounds(120, 0, 50)).toEqual({ page: 0, pages: 3, start: 0, end: 50 });
    expect(pageBounds(120, 9, 50)).toEqual({ page: 2, pages: 3, start: 100, end: 120 });
    expect(pageBounds(0, 3, 50)).toEqual({ page: 0, pages: 1, start: 0, end: 0 });
  });

  it('makes a table of a list of objects, with every key seen as a column', () => {
    const t = tableOf([{ id: 1, name: 'a' }, { id: 2, email: 'x@y' }]);
    expect(t?.columns).toEqual(['id', 'name', 'email']);
    expect(t?.rows).toHaveLength(2);
  });

  it('makes a key/value table of an object, a value column of scalars, nothing of a scalar', () => {
    expect(tableOf({ a: 1, b: [1] })?.columns).toEqual(['key', 'value']);
    expect(tableOf([1, 2, 3])?.columns).toEqual(['value']);
    expect(tableOf('text')).toBeNull();
    expect(tableOf([])).toBeNull();
  });

  it('summarises containers and cuts long strings', () => {
    expect(summary([1, 2])).toBe('[2 items]');
    expect(summary({ a: 1 })).toBe('{1 key}');
    expect(cellText('x'.repeat(500), 10)).toBe(`${'x'.repeat(10)}…`);
    expect(cellText(null)).toBe('null');
  });

  it('writes the expression a user pastes into {{ }}', () => {
    expect(expressionPath('input', ['items', 0, 'name'])).toBe('input.items[0].name');
    expect(expressionPath('nodes.fetch.output', ['body', 'content-type'])).toBe('nodes.fetch.output.body["content-type"]');
    expect(expressionPath('trigger', [])).toBe('trigger');
  });

  it('splits pretty JSON into lines for the raw view', () => {
    expect(rawLines({ a: 1 })).toEqual(['{', '  "a": 1', '}']);
    expect(rawLines(undefined)).toEqual([]);
  });
});

describe('table source', () => {
  it('shows the one list of objects an object holds, as n8n shows items', () => {
    const value = { orders: [{ id: 1 }, { id: 2 }] };
    expect(tableSource(value)).toEqual({ path: ['orders'], value: value.orders });
    expect(prefersTable(value)).toBe(true);
  });
  it('keeps other values as they are', () => {
    expect(tableSource({ a: 1, b: [] }).path).toEqual([]);
    expect(prefersTable({ a: 1 })).toBe(false);
    expect(prefersTable([1, 2])).toBe(true);
  });
});
