import { describe, expect, it } from 'vitest';
import type { Definition, ExecutionStep } from '../api/types';

type Step = Pick<ExecutionStep, 'input' | 'output' | 'status'>;
import { previewBody } from '../hooks/useExpressionPreview';
import { inputFor, propertiesAt, scopeData, upstreamVarNames, valueHint } from './expressionScope';

const def: Definition = {
  nodes: [
    { id: 'start', type: 'manual_trigger' },
    { id: 'count', type: 'set', config: { assignments: [{ name: 'count', value: '{{ 1 }}' }, { name: 'order.total', value: 2 }] } },
    { id: 'check', type: 'condition', config: { expression: '{{ vars.count > 1 }}' } },
    { id: 'later', type: 'set', config: { assignments: [{ name: 'after', value: 1 }] } },
  ],
  edges: [
    { id: 'e1', source: 'start', target: 'count' },
    { id: 'e2', source: 'count', target: 'check' },
    { id: 'e3', source: 'check', target: 'later', source_port: 'true' },
  ],
  variables: { threshold: 10 },
};

describe('expression scope', () => {
  it('knows the variables upstream set nodes assign, not downstream ones', () => {
    expect(upstreamVarNames(def, 'check')).toEqual(['count', 'order']);
    expect(upstreamVarNames(def, 'count')).toEqual([]);
  });

  it('fills the scope with the run data and lists upstream nodes only', () => {
    const steps = new Map<string, Step>([
      ['start', { input: null, output: { orders: [{ id: 1, total: 5 }] }, status: 'success' as const }],
      ['count', { input: { orders: [] }, output: { count: 1 }, status: 'success' as const }],
    ]);
    const data = scopeData({ definition: def, nodeId: 'check', runVars: { count: 1 }, trigger: { orders: [{ id: 1, total: 5 }] }, input: { count: 1 }, stepByNode: steps });
    expect(data.vars).toEqual({ threshold: 10, count: 1, order: null });
    expect(Object.keys(data.nodes as object)).toEqual(['count', 'start']);
    expect(propertiesAt(data, ['nodes', 'count', 'output']).map((p) => p.name)).toEqual(['count']);
    // Lists are looked into through their first item: trigger.orders[0].…
    expect(propertiesAt(data, ['trigger', 'orders']).map((p) => p.name)).toEqual(['id', 'total']);
    expect(propertiesAt(data, ['trigger', 'orders', '0']).map((p) => p.name)).toEqual(['id', 'total']);
    expect(propertiesAt(data, ['trigger', 'nope'])).toEqual([]);
  });

  it('offers the user’s variables under env', () => {
    const data = scopeData({ definition: def, nodeId: 'check', env: { BASE_URL: 'https://api.example.com', REGION: 'eu' } });
    expect(propertiesAt(data, ['env']).map((p) => p.name)).toEqual(['BASE_URL', 'REGION']);
    expect(propertiesAt(scopeData({ definition: def, nodeId: 'check' }), ['env'])).toEqual([]);
  });

  it('takes a node’s input from the run, or from its upstream when it did not run', () => {
    const steps = new Map<string, Step>([['count', { input: { a: 1 }, output: { count: 3 }, status: 'success' as const }]]);
    expect(inputFor('count', def.edges, steps)).toEqual({ value: { a: 1 }, ran: true });
    expect(inputFor('check', def.edges, steps)).toEqual({ value: { count: 3 }, ran: false });
    expect(inputFor('later', def.edges, steps)).toEqual({ value: undefined, ran: false });
  });

  it('shows short hints of values', () => {
    expect(valueHint([1, 2])).toBe('[2 items]');
    expect(valueHint('x'.repeat(100))).toHaveLength(40);
    expect(valueHint(null)).toBe('');
  });

  it('asks the server with the run, and with the input only when the node did not run', () => {
    const base = { schemaId: 's', nodeId: 'check', executionId: 'e', data: {} };
    expect(previewBody('{{ input }}', { ...base, inputOverride: undefined })).toEqual({ expression: '{{ input }}', node_id: 'check', execution: 'e' });
    expect(previewBody('{{ input }}', { ...base, inputOverride: { count: 3 } })).toEqual({
      expression: '{{ input }}',
      node_id: 'check',
      execution: 'e',
      scope: { input: { count: 3 } },
    });
  });
});
