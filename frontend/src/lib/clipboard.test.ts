import { describe, expect, it } from 'vitest';
import type { DefinitionEdge, DefinitionNode } from '../api/types';
import { clipText, parseClip, pastePlan } from './clipboard';

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
});
