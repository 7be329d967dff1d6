import { describe, expect, it } from 'vitest';
import { canConnect, danglingEdges, expressionVariables, outputPorts, uniqueId, upstreamOf } from './graph';
import { SPEC_MAP } from './testSpecs';
import type { JsonObject } from '../api/types';

describe('outputPorts', () => {
  it('uses static ports', () => {
    expect(outputPorts({}, SPEC_MAP.get('condition'))).toEqual(['true', 'false']);
    expect(outputPorts({}, SPEC_MAP.get('end'))).toEqual([]);
  });
  it('adds one port per switch case then default', () => {
    const cfg: JsonObject = { cases: [{ port: 'big' }, { port: 'small' }, { port: 'big' }, { nope: 1 }] };
    expect(outputPorts({ config: cfg }, SPEC_MAP.get('switch'))).toEqual(['big', 'small', 'default']);
  });
  it('adds error when on_error = error', () => {
    expect(outputPorts({ on_error: 'error' }, SPEC_MAP.get('http_request'))).toEqual(['out', 'error']);
    expect(outputPorts({ on_error: 'fail' }, SPEC_MAP.get('http_request'))).toEqual(['out']);
  });
  it('falls back to out for unknown types', () => {
    expect(outputPorts({}, undefined)).toEqual(['out']);
  });
});

describe('upstream and expression variables', () => {
  const edges = [
    { id: 'a', source: 'start', target: 'fetch' },
    { id: 'b', source: 'fetch', target: 'check' },
    { id: 'c', source: 'check', target: 'log' },
    { id: 'd', source: 'other', target: 'log' },
    { id: 'loop', source: 'log', target: 'fetch' },
  ];
  it('walks parents, nearest first, through cycles', () => {
    expect(upstreamOf('check', edges)).toEqual(['fetch', 'start', 'log', 'other']);
    expect(upstreamOf('start', edges)).toEqual([]);
  });
  it('lists vars, trigger, input, upstream outputs and env', () => {
    expect(expressionVariables({ edges: edges.slice(0, 2), variables: { threshold: 10 } }, 'check')).toEqual([
      'vars.threshold',
      'trigger',
      'input',
      'nodes.fetch.output',
      'nodes.start.output',
      'env.*',
    ]);
  });
});

describe('ids and connections', () => {
  it('makes unique ids', () => {
    expect(uniqueId('log', [])).toBe('log');
    expect(uniqueId('log', ['log', 'log_2'])).toBe('log_3');
    expect(uniqueId('a-b c', [])).toBe('a_b_c');
  });
  it('refuses self loops, duplicates and edges into triggers', () => {
    const edges = [{ id: 'e', source: 'a', target: 'b', source_port: 'out' }];
    expect(canConnect('a', 'out', 'a', [], SPEC_MAP.get('log'))).toBe(false);
    expect(canConnect('a', 'out', 'b', edges, SPEC_MAP.get('log'))).toBe(false);
    expect(canConnect('a', 'error', 'b', edges, SPEC_MAP.get('log'))).toBe(true);
    expect(canConnect('b', 'out', 't', edges, SPEC_MAP.get('manual_trigger'))).toBe(false);
  });
  it('finds edges whose port vanished', () => {
    const nodes = [
      { id: 's', type: 'switch', config: { cases: [{ port: 'x' }] } },
      { id: 'h', type: 'http_request', on_error: 'fail' as const },
      { id: 'l', type: 'log' },
    ];
    const edges = [
      { id: '1', source: 's', target: 'l', source_port: 'x' },
      { id: '2', source: 's', target: 'l', source_port: 'y' },
      { id: '3', source: 'h', target: 'l', source_port: 'error' },
      { id: '4', source: 'h', target: 'l' },
      { id: '5', source: 'h', target: 'missing' },
    ];
    expect(danglingEdges(nodes, edges, SPEC_MAP).map((e) => e.id)).toEqual(['2', '3', '5']);
  });
});
