import { describe, expect, it } from 'vitest';
import { sideEffectsOnTheWay, walkInputFor, walkStatusByNode, walkSummary, type WalkRun, type WalkStep } from './walk';
import type { JsonValue } from '../api/types';
import { actingQuestion, runToHereBody } from '../hooks/useRunToHere';
import { SPEC_MAP } from './testSpecs';
import { walkSupport } from '../hooks/useNodeExpressionScope';
import { previewBody } from '../hooks/useExpressionPreview';

const step = (node_id: string, status: WalkStep['status']): WalkStep => ({
  id: null,
  node_id,
  node_type: 'set',
  status,
  input: null,
  output: null,
  port: 'out',
  pause: null,
  error: null,
  duration_ms: 1,
});
const names = (id: string) => ({ start: 'Orders arrive', count: 'Count orders', call: 'Call the API' })[id] ?? id;

describe('run to here', () => {
  it('colours the nodes of the walk: pinned ones went on like a success', () => {
    const m = walkStatusByNode({ steps: [step('start', 'pinned'), step('count', 'success'), step('call', 'failed')] });
    expect(Object.fromEntries(m)).toEqual({ start: 'success', count: 'success', call: 'failed' });
  });

  it('says how the walk ended, by node names', () => {
    const steps = [step('start', 'pinned'), step('count', 'success')];
    expect(walkSummary({ status: 'success', node_id: 'count', steps }, names)).toBe('Ran up to Count orders: 1 node ran, 1 pinned.');
    expect(walkSummary({ status: 'failed', node_id: 'call', steps: [...steps, step('call', 'failed')] }, names)).toBe(
      'Stopped at Call the API before reaching Call the API: 2 nodes ran, 1 pinned.',
    );
    expect(walkSummary({ status: 'unreached', node_id: 'call', steps }, names)).toBe('No branch taken leads to Call the API: 1 node ran, 1 pinned.');
  });

  it('sends the draft, the loaded run and, only when edited, a payload', () => {
    const definition = { nodes: [], edges: [] };
    expect(runToHereBody({ nodeId: 'count', definition, executionId: 'ex1', acting: [] }, false)).toEqual({
      node_id: 'count',
      definition,
      execution: 'ex1',
      confirm_side_effects: false,
    });
    expect(runToHereBody({ nodeId: 'count', definition, executionId: null, payload: { a: 1 }, acting: [] }, true)).toMatchObject({ payload: { a: 1 }, confirm_side_effects: true });
  });

  it('asks about the unpinned side effects on the way only, not those after the node', () => {
    const definition = {
      nodes: [
        { id: 'start', type: 'manual_trigger' },
        { id: 'call', type: 'http_request' },
        { id: 'shape', type: 'set' },
        { id: 'notify', type: 'http_request' },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'call' },
        { id: 'e2', source: 'call', target: 'shape' },
        { id: 'e3', source: 'shape', target: 'notify' },
      ],
    };
    expect(sideEffectsOnTheWay(definition, 'shape', SPEC_MAP)).toEqual(['call']);
    expect(sideEffectsOnTheWay(definition, 'notify', SPEC_MAP)).toEqual(['call', 'notify']);
    const pinned = { ...definition, nodes: definition.nodes.map((n) => (n.id === 'call' ? { ...n, pinned_data: { status: 200 } } : n)) };
    expect(sideEffectsOnTheWay(pinned, 'shape', SPEC_MAP)).toEqual([]);
    expect(actingQuestion(['Call the API'])).toContain('Call the API has side effects');
  });

  it('gives a node after the walk the output it would get: on the port taken, a pin on any port', () => {
    const steps = [{ ...step('big', 'success'), port: 'true', output: { n: 5 } }, { ...step('pinned', 'pinned'), port: null, output: 7 }];
    const edges = [
      { id: 'a', source: 'big', target: 'yes', source_port: 'true' },
      { id: 'b', source: 'big', target: 'no', source_port: 'false' },
      { id: 'c', source: 'pinned', target: 'next', source_port: 'out' },
    ];
    expect(walkInputFor({ steps }, 'yes', edges)).toEqual({ n: 5 });
    expect(walkInputFor({ steps }, 'no', edges)).toBeUndefined();
    expect(walkInputFor({ steps }, 'next', edges)).toBe(7);
  });

  it('previews and completes against the walk after "Run to here" (its vars, outputs and inputs)', () => {
    const definition = {
      nodes: [
        { id: 'start', type: 'manual_trigger' },
        { id: 'count', type: 'set' },
        { id: 'shape', type: 'set' },
      ],
      edges: [
        { id: 'e1', source: 'start', target: 'count' },
        { id: 'e2', source: 'count', target: 'shape' },
      ],
    };
    const walk: WalkRun = {
      status: 'success',
      node_id: 'count',
      error: null,
      vars: { count: 3 },
      steps: [
        { ...step('start', 'pinned'), port: null, output: { orders: [1, 2, 3] } as JsonValue },
        { ...step('count', 'success'), input: { orders: [1, 2, 3] }, output: { count: 3 } },
      ],
    };
    const s = walkSupport('sch', definition, 'shape', walk, undefined, {});
    expect(previewBody('{{ vars.count }}', s)).toEqual({
      expression: '{{ vars.count }}',
      node_id: 'shape',
      execution: null,
      scope: {
        input: { count: 3 },
        trigger: { orders: [1, 2, 3] },
        vars: { count: 3 },
        nodes: { start: { output: { orders: [1, 2, 3] } }, count: { output: { count: 3 } } },
      },
    });
    expect((s.data.nodes as Record<string, unknown>).count).toEqual({ output: { count: 3 } });
  });
});
