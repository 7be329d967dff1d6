import { describe, expect, it } from 'vitest';
import { editorReducer, initialEditorState } from './editorStore';
import { SPEC_MAP } from '../lib/testSpecs';
import { fromCanvas } from '../lib/mapping';

const specs = SPEC_MAP;

describe('editor store', () => {
  it('adds, connects, undoes and redoes', () => {
    let s = initialEditorState();
    s = editorReducer(s, { kind: 'addNode', spec: specs.get('manual_trigger')!, position: { x: 0, y: 0 } });
    s = editorReducer(s, { kind: 'addNode', spec: specs.get('http_request')!, position: { x: 300, y: 0 } });
    expect(s.nodes.map((n) => n.id)).toEqual(['manual_trigger', 'http_request']);
    expect(s.nodes[1]!.data.config).toEqual({ method: 'GET', url: '', timeout: 10 });
    s = editorReducer(s, { kind: 'connect', source: 'manual_trigger', sourceHandle: 'out', target: 'http_request', specs });
    expect(s.edges).toHaveLength(1);
    // into a trigger: refused
    s = editorReducer(s, { kind: 'connect', source: 'http_request', sourceHandle: 'out', target: 'manual_trigger', specs });
    expect(s.edges).toHaveLength(1);
    s = editorReducer(s, { kind: 'undo' });
    expect(s.edges).toHaveLength(0);
    s = editorReducer(s, { kind: 'redo' });
    expect(s.edges).toHaveLength(1);
  });

  it('coalesces edits of one field into one undo step and prunes vanished ports', () => {
    let s = initialEditorState({
      nodes: [
        { id: 'h', type: 'http_request', config: { url: '' }, on_error: 'error' },
        { id: 'l', type: 'log' },
      ],
      edges: [{ id: 'e', source: 'h', target: 'l', source_port: 'error' }],
    });
    s = editorReducer(s, { kind: 'updateNode', id: 'h', patch: { config: { url: 'h' } }, specs, coalesce: 'h.url' });
    s = editorReducer(s, { kind: 'updateNode', id: 'h', patch: { config: { url: 'ht' } }, specs, coalesce: 'h.url' });
    expect(s.history.past).toHaveLength(1);
    s = editorReducer(s, { kind: 'updateNode', id: 'h', patch: { on_error: 'fail' }, specs });
    expect(s.edges).toHaveLength(0);
    s = editorReducer(s, { kind: 'undo' });
    expect(s.edges).toHaveLength(1);
    s = editorReducer(s, { kind: 'undo' });
    expect(s.nodes[0]!.data.config).toEqual({ url: '' });
  });

  it('deletes selected nodes with their edges, renames ids through edges, lays out', () => {
    let s = initialEditorState({
      // In one column, each on its own spot (a pile at (0, 0) would be spread on opening).
      nodes: [
        { id: 'a', type: 'manual_trigger', position: { x: 0, y: 0 } },
        { id: 'b', type: 'log', position: { x: 0, y: 150 } },
        { id: 'c', type: 'end', position: { x: 0, y: 300 } },
      ],
      edges: [
        { id: 'e1', source: 'a', target: 'b' },
        { id: 'e2', source: 'b', target: 'c' },
      ],
    });
    s = editorReducer(s, { kind: 'layout', positions: new Map([['a', { x: 0, y: 0 }], ['b', { x: 300, y: 0 }]]) });
    expect(s.nodes.map((n) => n.position.x)).toEqual([0, 300, 0]);
    expect(editorReducer(s, { kind: 'undo' }).nodes.map((n) => n.position.x)).toEqual([0, 0, 0]);
    s = editorReducer(s, { kind: 'renameNodeId', id: 'b', newId: 'logger' });
    expect(fromCanvas(s.nodes, s.edges, {}).edges.map((e) => `${e.source}>${e.target}`)).toEqual(['a>logger', 'logger>c']);
    s = editorReducer(s, { kind: 'select', id: 'logger' });
    s = editorReducer(s, { kind: 'deleteSelected' });
    expect(s.nodes.map((n) => n.id)).toEqual(['a', 'c']);
    expect(s.edges).toHaveLength(0);
  });

  it('adds a node joined to the one it follows, as one undo step', () => {
    let s = initialEditorState({ nodes: [{ id: 'c', type: 'condition' }], edges: [] });
    s = editorReducer(s, { kind: 'addNode', spec: specs.get('log')!, position: { x: 280, y: 0 }, connectFrom: { source: 'c', port: 'true' } });
    expect(s.edges.map((e) => [e.source, e.sourceHandle, e.target])).toEqual([['c', 'true', 'log']]);
    expect(s.nodes.find((n) => n.id === 'log')!.selected).toBe(true);
    s = editorReducer(s, { kind: 'undo' });
    expect(s.nodes).toHaveLength(1);
    expect(s.edges).toHaveLength(0);
  });

  it('adds a trigger unjoined (nothing leads into a trigger)', () => {
    let s = initialEditorState({ nodes: [{ id: 'l', type: 'log' }], edges: [] });
    s = editorReducer(s, { kind: 'addNode', spec: specs.get('manual_trigger')!, position: { x: 280, y: 0 }, connectFrom: { source: 'l', port: 'out' } });
    expect(s.nodes).toHaveLength(2);
    expect(s.edges).toHaveLength(0);
  });

  it('pastes copied nodes with free ids, selected, as one undo step', () => {
    let s = initialEditorState({ nodes: [{ id: 'log', type: 'log', position: { x: 0, y: 0 } }], edges: [] });
    s = editorReducer(s, { kind: 'select', id: 'log' });
    s = editorReducer(s, {
      kind: 'paste',
      clip: {
        nodes: [
          { id: 'log', type: 'log', position: { x: 0, y: 0 } },
          { id: 'end', type: 'end', position: { x: 300, y: 0 } },
        ],
        edges: [{ id: 'e', source: 'log', target: 'end' }],
      },
    });
    expect(s.nodes.map((n) => [n.id, !!n.selected])).toEqual([['log', false], ['log_2', true], ['end', true]]);
    expect(s.edges.map((e) => `${e.source}>${e.target}`)).toEqual(['log_2>end']);
    expect(s.nodes[1]!.position).toEqual({ x: 40, y: 40 });
    s = editorReducer(s, { kind: 'undo' });
    expect(s.nodes).toHaveLength(1);
  });

  it('pastes copied sticky notes with the nodes: free ids, offset together, selected, one undo step', () => {
    let s = initialEditorState({
      nodes: [{ id: 'log', type: 'log', position: { x: 0, y: 0 } }],
      edges: [],
      notes: [{ id: 'why', text: 'stays', position: { x: 0, y: -200 }, width: 300, height: 150 }],
    });
    s = editorReducer(s, {
      kind: 'paste',
      clip: {
        nodes: [{ id: 'log', type: 'log', position: { x: 0, y: 0 } }],
        edges: [],
        notes: [{ id: 'why', text: 'Ask finance', position: { x: 0, y: -200 }, width: 300, height: 150 }],
      },
      at: { x: 1150, y: 925 },
    });
    expect(s.notes.map((n) => [n.id, n.data.text, !!n.selected])).toEqual([
      ['why', 'stays', false],
      ['why_2', 'Ask finance', true],
    ]);
    const [node, note] = [s.nodes[1]!, s.notes[1]!];
    expect([node.id, node.selected]).toEqual(['log_2', true]);
    // The box (300 × 300: the note above the node) is centred on the point; the two keep their places.
    expect(note.position).toEqual({ x: 1000, y: 775 });
    expect(node.position).toEqual({ x: 1000, y: 975 });
    expect([note.width, note.height]).toEqual([300, 150]);
    s = editorReducer(s, { kind: 'undo' });
    expect(s.notes.map((n) => n.id)).toEqual(['why']);
    expect(s.nodes).toHaveLength(1);
  });

  it('pastes centred on the point it is given (the mouse or the middle of the view), far from the originals', () => {
    let s = initialEditorState({ nodes: [{ id: 'log', type: 'log', position: { x: 0, y: 0 } }], edges: [] });
    s = editorReducer(s, {
      kind: 'paste',
      clip: { nodes: [{ id: 'log', type: 'log', position: { x: 0, y: 0 } }], edges: [] },
      at: { x: 2000, y: 1500 },
    });
    const pasted = s.nodes[1]!;
    expect([pasted.id, pasted.selected]).toEqual(['log_2', true]);
    // The node's box (220 × 100) is centred on the point.
    expect(pasted.position).toEqual({ x: 1890, y: 1450 });
  });

  it('keeps sticky notes apart from the nodes: added, typed in, moved, resized, deleted, undone, saved in definition.notes', () => {
    let s = initialEditorState({ nodes: [{ id: 'note', type: 'log', position: { x: 0, y: 0 } }], edges: [] });
    s = editorReducer(s, { kind: 'addNote', position: { x: 40, y: -200 } });
    // A node already has the id "note": the note gets a free one, and is the only thing selected.
    expect(s.notes.map((n) => [n.id, n.selected])).toEqual([['note_2', true]]);
    s = editorReducer(s, { kind: 'updateNote', id: 'note_2', text: 'Ask' });
    s = editorReducer(s, { kind: 'updateNote', id: 'note_2', text: 'Ask finance' });
    s = editorReducer(s, {
      kind: 'nodesChange',
      changes: [
        { type: 'position', id: 'note_2', position: { x: 60, y: -180 } },
        { type: 'dimensions', id: 'note_2', dimensions: { width: 300, height: 90 }, setAttributes: true },
      ],
    });
    expect(s.nodes[0]!.position).toEqual({ x: 0, y: 0 });
    const def = fromCanvas(s.nodes, s.edges, s.variables, s.notes);
    expect(def.nodes.map((n) => n.id)).toEqual(['note']);
    expect(def.notes).toEqual([{ id: 'note_2', text: 'Ask finance', position: { x: 60, y: -180 }, width: 300, height: 90 }]);
    // Typing is one undo step; the note goes with a Delete like a node.
    s = editorReducer(s, { kind: 'undo' });
    expect(s.notes[0]!.data.text).toBe('');
    s = editorReducer(s, { kind: 'redo' });
    s = editorReducer(s, { kind: 'nodesChange', changes: [{ type: 'remove', id: 'note_2' }] });
    expect(s.notes).toEqual([]);
    expect(s.nodes).toHaveLength(1);
    expect(fromCanvas(s.nodes, s.edges, s.variables, s.notes).notes).toBeUndefined();
  });

  it('loads the notes of a definition and keeps their unknown keys', () => {
    const s = initialEditorState({ nodes: [], edges: [], notes: [{ id: 'n1', text: 'hi', position: { x: 1, y: 2 }, color: 'pink' } as never] });
    expect(s.notes[0]).toMatchObject({ id: 'n1', type: 'note', width: 240, height: 140, data: { text: 'hi' } });
    expect(fromCanvas(s.nodes, s.edges, {}, s.notes).notes).toEqual([{ color: 'pink', id: 'n1', text: 'hi', position: { x: 1, y: 2 }, width: 240, height: 140 }]);
  });
});
