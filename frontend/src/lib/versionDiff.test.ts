import { describe, expect, it } from 'vitest';
import type { Definition } from '../api/types';
import { definitionDiff, noteLabel, valueChanges } from './versionDiff';

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

  it('shows sticky notes added, removed and reworded; a note only moved or resized is a move', () => {
    const at = { x: 0, y: 0 };
    const withNotes: Definition = {
      ...v1,
      notes: [
        { id: 'n1', text: 'Ask Ana before changing the URL', position: at, width: 200, height: 120 },
        { id: 'n2', text: 'old plan', position: at, width: 200, height: 120 },
        { id: 'n3', text: 'stays', position: at, width: 200, height: 120 },
      ],
    };
    const later: Definition = {
      ...v1,
      notes: [
        { id: 'n1', text: 'Ask Bo before changing the URL', position: at, width: 200, height: 120 },
        { id: 'n3', text: 'stays', position: { x: 50, y: 0 }, width: 300, height: 120 },
        { id: 'n4', text: 'new idea', position: at },
      ],
    };
    const d = definitionDiff(withNotes, later);
    expect(d.notes).toEqual([
      { id: 'n1', kind: 'changed', before: 'Ask Ana before changing the URL', after: 'Ask Bo before changing the URL' },
      { id: 'n4', kind: 'added', after: 'new idea' },
      { id: 'n2', kind: 'removed', before: 'old plan' },
    ]);
    expect(d.moved).toEqual(['note “stays”']);
    expect(d.same).toBe(false);
    // Notes are all that changed: the versions are not the same.
    expect(definitionDiff(v1, { ...v1, notes: [{ id: 'n1', text: 'hi', position: at }] }).same).toBe(false);
    const onlyMoved = definitionDiff(withNotes, { ...withNotes, notes: withNotes.notes!.map((n) => ({ ...n, position: { x: 9, y: 9 } })) });
    expect(onlyMoved.same).toBe(true);
    expect(onlyMoved.moved).toHaveLength(3);
  });

  it('names a note by its first words', () => {
    expect(noteLabel('  Ask   Ana\nfirst ')).toBe('note “Ask Ana first”');
    expect(noteLabel('x'.repeat(50))).toBe(`note “${'x'.repeat(39)}…”`);
    expect(noteLabel('')).toBe('empty note');
  });
});
