import { describe, expect, it } from 'vitest';
import { startedSubRuns } from './ExecutionPage';

describe('startedSubRuns', () => {
  it('is true for a run whose call_schema / for_each ran or waits on its children, so its page links to them', () => {
    const waitingOnChildren = [{ kind: 'children', node_id: 'loop', node_name: null, resume_at: null }] as const;
    expect(startedSubRuns({ waiting: [...waitingOnChildren] }, [])).toBe(true);
    expect(startedSubRuns({ waiting: [] }, [{ node_type: 'manual_trigger' }, { node_type: 'for_each' }])).toBe(true);
    expect(startedSubRuns({ waiting: [] }, [{ node_type: 'call_schema' }])).toBe(true);
  });
  it('is false for a run without sub-schema nodes that ran', () => {
    expect(startedSubRuns({ waiting: [{ kind: 'wait', node_id: 'ok', node_name: null, resume_at: null }] }, [{ node_type: 'set' }])).toBe(false);
  });
});
