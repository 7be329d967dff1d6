import { describe, expect, it } from 'vitest';
import { statusByNode } from './runStatus';

describe('statusByNode', () => {
  const steps = [
    { node_id: 'start', status: 'success' as const },
    { node_id: 'fetch', status: 'failed' as const },
    { node_id: 'fetch', status: 'success' as const },
  ];
  it('takes the latest step of each node', () => {
    const m = statusByNode({ status: 'completed', current_node_id: null }, steps);
    expect(Object.fromEntries(m)).toEqual({ start: 'success', fetch: 'success' });
  });
  it('marks where a live run stands', () => {
    expect(statusByNode({ status: 'paused', current_node_id: 'wait1' }, steps).get('wait1')).toBe('paused');
    expect(statusByNode({ status: 'running', current_node_id: 'x' }, []).get('x')).toBe('running');
  });
  it('ignores current_node_id once finished', () => {
    expect(statusByNode({ status: 'failed', current_node_id: 'fetch' }, steps).get('fetch')).toBe('success');
  });
});
