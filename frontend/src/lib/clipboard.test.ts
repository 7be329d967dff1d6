import { describe, expect, it } from 'vitest';
import type { DefinitionEdge, DefinitionNode, DefinitionNote } from '../api/types';
import { boundsOf, clipBoxes, clipText, parseClip, pasteOffset, pastePlan } from './clipboard';
import { pastePoint } from '../hooks/useCanvasClipboard';

const nodes: DefinitionNode[] = [
  { id: 'fetch', type: 'http_request', name: 'Fetch', config: { url: 'http://x' }, position: { x: 0, y: 0 } },
  { id: 'note', type: 'log', name: 'Note', config: { message: '{{ nodes.fetch.output.status }} {{ nodes.fetcher.output }}' }, position: { x: 300, y: 0 } },
];
const edges: DefinitionEdge[] = [
  { id: 'e1', source: 'fetch', target: 'note', source_port: 'out' },
  { id: 'e2', source: 'start', target: 'fetch', source_port: 'out' },
];

describe('clipboard', () => {
  it('copies the selected nodes with only the edges between them', () => {
    const clip = parseClip(clipText(nodes, edges))!;
    expect(clip.nodes.map((n) => n.id)).toEqual(['fetch', 'note']);
    expect(clip.edges.map((e) => e.id)).toEqual(['e1']);
  });

  it('ignores any other text on the clipboard', () => {
    expect(parseClip('hello')).toBeNull();
    expect(parseClip('{"nodes": []}')).toBeNull();
    expect(parseClip(JSON.stringify({ kind: 'schema-editor/nodes', nodes: [{ nope: 1 }] }))).toBeNull();
  });

  it('pastes beside taken ids: fresh ids, edges and expressions follow, positions shifted', () => {
    const plan = pastePlan(parseClip(clipText(nodes, edges))!, ['start', 'fetch', 'note'], ['e1']);
    expect(plan.nodes.map((n) => n.id)).toEqual(['fetch_2', 'note_2']);
    expect(plan.nodes[1]!.config!.message).toBe('{{ nodes.fetch_2.output.status }} {{ nodes.fetcher.output }}');
    expect(plan.nodes[0]!.position).toEqual({ x: 40, y: 40 });
    expect(plan.edges).toEqual([{ id: 'e_fetch_2_out_note_2', source: 'fetch_2', target: 'note_2', source_port: 'out' }]);
  });

  it('keeps ids that are free (pasting into another schema)', () => {
    const plan = pastePlan(parseClip(clipText(nodes, edges))!, ['start'], []);
    expect(plan.nodes.map((n) => n.id)).toEqual(['fetch', 'note']);
    expect(plan.nodes[1]!.config!.message).toContain('nodes.fetch.output.status');
  });

  it('centres the copies on the paste point, keeping their layout', () => {
    const positions = [
      { x: 0, y: 0 },
      { x: 300, y: 0 },
    ];
    // The box is 520 × 100 (two nodes of 220 × 100): its centre goes to (1000, 500).
    const d = pasteOffset(positions, { x: 1000, y: 500 }, []);
    expect(d).toEqual({ x: 740, y: 450 });
    const plan = pastePlan(parseClip(clipText(nodes, edges))!, [], [], d);
    expect(plan.nodes.map((n) => n.position)).toEqual([
      { x: 740, y: 450 },
      { x: 1040, y: 450 },
    ]);
  });

  it('moves the copies off the nodes they would cover (pasting where the originals are)', () => {
    const positions = [{ x: 100, y: 100 }];
    // Centred on the original itself: stepped down-right until clear of it (3 steps of 40 px: 120 > 100 high).
    const d = pasteOffset(positions, { x: 210, y: 150 }, positions);
    expect(d).toEqual({ x: 120, y: 120 });
    // Nothing in the way: exactly centred.
    expect(pasteOffset(positions, { x: 210, y: 150 }, [{ x: 900, y: 900 }])).toEqual({ x: 0, y: 0 });
  });

  it('pastes under the mouse when it is over the canvas, else in the middle of the view', () => {
    const canvas = { left: 200, top: 100, width: 800, height: 600 };
    expect(pastePoint(canvas, { x: 300, y: 200 })).toEqual({ x: 300, y: 200 });
    expect(pastePoint(canvas, { x: 50, y: 200 })).toEqual({ x: 600, y: 400 });
    expect(pastePoint(canvas, null)).toEqual({ x: 600, y: 400 });
    expect(pastePoint(undefined, { x: 300, y: 200 })).toBeNull();
  });

  it('carries the selected sticky notes with the nodes, and lands them offset together', () => {
    const notes: DefinitionNote[] = [{ id: 'note', text: 'Ask finance first', position: { x: 0, y: -200 }, width: 300, height: 150 }];
    const clip = parseClip(clipText(nodes, edges, notes))!;
    expect(clip.notes).toEqual(notes);
    // The box holds the note too: x 0..520 (the nodes), y -200..100 (note on top, nodes below).
    const d = pasteOffset(clipBoxes(clip), { x: 1000, y: 500 }, []);
    expect(d).toEqual({ x: 740, y: 550 });
    // "note" is taken in the target schema, "note_2" by the pasted node of that id: the note gets a free one.
    const plan = pastePlan(clip, ['start', 'note'], [], d);
    expect(plan.notes).toEqual([{ id: 'note_3', text: 'Ask finance first', position: { x: 740, y: 350 }, width: 300, height: 150 }]);
    expect(plan.nodes.map((n) => [n.id, n.position])).toEqual([
      ['fetch', { x: 740, y: 550 }],
      ['note_2', { x: 1040, y: 550 }],
    ]);
    // The note stays where it was relative to the nodes.
    expect(plan.notes[0]!.position.y - plan.nodes[0]!.position!.y).toBe(-200);
  });

  it('moves copied notes off the nodes and notes they would cover, with their real sizes', () => {
    const note = { x: 0, y: -200, width: 300, height: 150 };
    // Nothing there: exactly centred.
    expect(pasteOffset([note], { x: 150, y: -125 }, [{ x: 900, y: 900 }])).toEqual({ x: 0, y: 0 });
    // A node under the note's spot (a selected note is drawn over it): stepped until clear (3 × 40 px: the note's top passes the node's bottom).
    expect(pasteOffset([note], { x: 150, y: -125 }, [{ x: 40, y: -180 }])).toEqual({ x: 120, y: 120 });
    // A note there: the copy steps down-right until clear of it (4 × 40 px: 160 > 150 high).
    expect(pasteOffset([note], { x: 150, y: -125 }, [note])).toEqual({ x: 160, y: 160 });
  });

  it('measures the box around pasted things (a node is 220 × 100 unless measured)', () => {
    expect(boundsOf([])).toBeNull();
    expect(boundsOf([{ x: 0, y: -200, width: 300, height: 150 }, { x: 40, y: 0 }])).toEqual({ x: 0, y: -200, width: 300, height: 300 });
  });

  it('copies notes alone, and reads a clip without notes (an older editor) as none', () => {
    const only = parseClip(clipText([], [], [{ id: 'n', text: 'hi', position: { x: 5, y: 5 } }]))!;
    expect(only.nodes).toEqual([]);
    expect(pastePlan(only, ['n'], []).notes.map((n) => [n.id, n.position])).toEqual([['n_2', { x: 45, y: 45 }]]);
    expect(JSON.parse(clipText(nodes, edges))).not.toHaveProperty('notes');
    expect(parseClip(JSON.stringify({ kind: 'schema-editor/nodes', nodes, edges: [] }))!.notes).toEqual([]);
    expect(parseClip(JSON.stringify({ kind: 'schema-editor/nodes', nodes: [], notes: [{ id: 'n' }] }))).toBeNull();
  });
});
