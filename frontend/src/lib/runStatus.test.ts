import { describe, expect, it } from 'vitest';
import { statusByNode, stoppedAt } from './runStatus';

describe('statusByNode', () => {
  const steps = [
    { node_id: 'start', status: 'success' as const },
    { node_id: 'fetch', status: 'failed' as const },
    { node_id: 'fetch', status: 'success' as const },
  ];
  it('marks every waiting branch paused while another branch runs', () => {
    const waiting = [
      { node_id: 'approve', node_name: null, kind: 'wait', resume_at: null },
      { node_id: 'cool', node_name: null, kind: 'delay', resume_at: '2030-01-01T12:01:00Z' },
    ];
    const m = statusByNode({ status: 'running', current_node_id: 'fetch', waiting }, steps);
    expect(Object.fromEntries(m)).toEqual({ start: 'success', fetch: 'running', approve: 'paused', cool: 'paused' });
    expect(statusByNode({ status: 'completed', current_node_id: null, waiting }, steps).get('cool')).toBeUndefined();
  });
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
  it('marks where a cancelled run stopped', () => {
    expect(statusByNode({ status: 'cancelled', current_node_id: 'wait1' }, steps).get('wait1')).toBe('cancelled');
    expect(statusByNode({ status: 'cancelled', current_node_id: null }, steps).get('fetch')).toBe('success');
  });
});

describe('stoppedAt', () => {
  const steps = [{ node_id: 'start' }, { node_id: 'fetch' }];
  it('names the node a cancelled or failed run stopped at', () => {
    expect(stoppedAt({ status: 'cancelled', current_node_id: 'approval' }, steps)).toBe('approval');
    expect(stoppedAt({ status: 'cancelled', current_node_id: null }, steps)).toBe('fetch');
    expect(stoppedAt({ status: 'failed', current_node_id: 'fetch' }, steps)).toBe('fetch');
  });
  it('is null for runs that did not stop, or stopped before any step', () => {
    expect(stoppedAt({ status: 'completed', current_node_id: null }, steps)).toBeNull();
    expect(stoppedAt({ status: 'paused', current_node_id: 'approval' }, steps)).toBeNull();
    expect(stoppedAt({ status: 'cancelled', current_node_id: null }, [])).toBeNull();
  });
});
