import { describe, expect, it } from 'vitest';
import type { Definition } from '../api/types';
import { fromCanvas, toCanvas } from './mapping';

const definition: Definition = {
  nodes: [
    { id: 'start', type: 'webhook_trigger', name: 'Incoming order', config: {}, position: { x: 0, y: 0 } },
    {
      id: 'fetch',
      type: 'http_request',
      name: 'Fetch',
      config: { method: 'POST', url: '{{ trigger.url }}', headers: { a: 'b' }, body: [1, { x: null }] },
      position: { x: 280, y: 40 },
      retry: { max_attempts: 3, backoff: 'exponential', base_seconds: 1, max_seconds: 60, jitter: true },
      on_error: 'error',
    },
    { id: 'route', type: 'switch', name: 'Route', config: { cases: [{ port: 'big', expression: 'x' }] }, position: { x: 560, y: -20 } },
    { id: 'done', type: 'end', name: 'End', config: {}, position: { x: 840, y: 0 }, ...{ note: 'kept' } },
  ],
  edges: [
    { id: 'e1', source: 'start', target: 'fetch', source_port: 'out' },
    { id: 'e2', source: 'fetch', target: 'route', source_port: 'out' },
    { id: 'e3', source: 'fetch', target: 'done', source_port: 'error' },
    { id: 'e4', source: 'route', target: 'done', source_port: 'big' },
    { id: 'e5', source: 'route', target: 'done', source_port: 'default' },
  ],
  variables: { threshold: 10, nested: { a: [1, 2] } },
};

describe('definition ⇄ canvas', () => {
  it('round trips ids, ports, positions, config, retry, on_error and unknown keys', () => {
    const { nodes, edges } = toCanvas(definition);
    expect(fromCanvas(nodes, edges, definition.variables!)).toEqual(definition);
  });
  it('maps ports to handles', () => {
    const { edges, nodes } = toCanvas(definition);
    expect(edges.find((e) => e.id === 'e3')).toMatchObject({ source: 'fetch', sourceHandle: 'error', targetHandle: 'in' });
    expect(nodes[1]).toMatchObject({ id: 'fetch', position: { x: 280, y: 40 }, data: { type: 'http_request', on_error: 'error' } });
  });
  it('defaults a missing source_port to out and a missing position to the origin', () => {
    const { nodes, edges } = toCanvas({ nodes: [{ id: 'a', type: 'log' }], edges: [{ id: 'x', source: 'a', target: 'b' }] });
    expect(edges[0]!.sourceHandle).toBe('out');
    const back = fromCanvas(nodes, edges, {});
    expect(back.nodes[0]).toEqual({ id: 'a', type: 'log', name: '', config: {}, position: { x: 0, y: 0 } });
    expect(back.edges[0]!.source_port).toBe('out');
  });
  it('rounds dragged positions', () => {
    const { nodes, edges } = toCanvas(definition);
    nodes[0]!.position = { x: 10.4, y: 19.6 };
    expect(fromCanvas(nodes, edges, {}).nodes[0]!.position).toEqual({ x: 10, y: 20 });
  });
});

describe('opening a definition whose nodes are piled up', () => {
  it('spreads nodes that all sit at (0, 0) and leaves a laid-out definition as it is', () => {
    const piled: Definition = {
      nodes: [
        { id: 'start', type: 'manual_trigger', config: {}, position: { x: 0, y: 0 } },
        { id: 'call', type: 'http_request', config: { url: 'https://x.test' } },
        { id: 'done', type: 'end', config: {}, position: { x: 0, y: 0 } },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'call' },
        { id: 'e2', source: 'call', target: 'done' },
      ],
    };
    expect(toCanvas(piled).nodes.map((n) => n.position)).toEqual([
      { x: 0, y: 0 },
      { x: 300, y: 0 },
      { x: 600, y: 0 },
    ]);
    const laidOut: Definition = { ...piled, nodes: piled.nodes.map((n, i) => ({ ...n, position: { x: i * 250, y: 40 } })) };
    expect(toCanvas(laidOut).nodes.map((n) => n.position)).toEqual([
      { x: 0, y: 40 },
      { x: 250, y: 40 },
      { x: 500, y: 40 },
    ]);
  });
});
