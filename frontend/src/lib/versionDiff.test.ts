import { describe, expect, it } from 'vitest';
import type { Definition } from '../api/types';
import { definitionDiff, valueChanges } from './versionDiff';

const v1: Definition = {
  nodes: [
    { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 0, y: 0 } },
    { id: 'note', type: 'log', name: 'Note it', config: { message: 'hi', level: 'info' }, position: { x: 300, y: 0 } },
    { id: 'old', type: 'end', name: 'Old end', config: {}, position: { x: 600, y: 0 } },
  ],
  edges: [
    { id: 'e1', source: 'start', target: 'note', source_port: 'out' },
    { id: 'e2', source: 'note', target: 'old', source_port: 'out' },
  ],
  variables: { threshold: 10 },
};

describe('definitionDiff', () => {
  it('names what changed: nodes by name and field, connections, variables, settings', () => {
    const v2: Definition = {
      nodes: [
        { id: 'start', type: 'manual_trigger', name: 'Start', config: {}, position: { x: 40, y: 0 } },
        { id: 'note', type: 'log', name: 'Note it', config: { message: 'hello', level: 'info' }, position: { x: 300, y: 0 }, on_error: 'error' },
        { id: 'done', type: 'end', name: 'Done', config: {}, position: { x: 600, y: 0 } },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'note' },
        { id: 'e3', source: 'note', target: 'done', source_port: 'error' },
      ],
      variables: { threshold: 20 },
      settings: { timeout_seconds: 60 },
    };
    const d = definitionDiff(v1, v2);
    expect(d.nodes).toEqual([
      {
        id: 'note',
        name: 'Note it',
        kind: 'changed',
        changes: [
          { path: 'config.message', before: 'hi', after: 'hello' },
          { path: 'on_error', before: undefined, after: 'error' },
        ],
      },
      { id: 'done', name: 'Done', kind: 'added', changes: [] },
      { id: 'old', name: 'Old end', kind: 'removed', changes: [] },
    ]);
    // An edge with no port and one with `out` are the same connection.
    expect(d.edges).toEqual([
      { kind: 'added', label: 'Note it (error) → Done' },
      { kind: 'removed', label: 'Note it → Old end' },
    ]);
    expect(d.variables).toEqual([{ path: 'threshold', before: 10, after: 20 }]);
    expect(d.settings).toEqual([{ path: 'timeout_seconds', before: undefined, after: 60 }]);
    expect(d.moved).toEqual(['Start']);
    expect(d.same).toBe(false);
  });

  it('calls a version that only moved nodes the same', () => {
    const moved = { ...v1, nodes: v1.nodes.map((n) => ({ ...n, position: { x: 1, y: 1 } })) };
    const d = definitionDiff(v1, moved);
    expect(d.same).toBe(true);
    expect(d.moved).toHaveLength(3);
    expect(definitionDiff(v1, v1).moved).toEqual([]);
  });

  it('diffs lists item by item, and whole when their length changes', () => {
    expect(valueChanges({ a: [1, 2, 3] }, { a: [1, 5, 3] })).toEqual([{ path: 'a[1]', before: 2, after: 5 }]);
    expect(valueChanges({ a: [1] }, { a: [1, 2] })).toEqual([{ path: 'a', before: [1], after: [1, 2] }]);
  });
});
