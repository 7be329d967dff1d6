import { describe, expect, it } from 'vitest';
import { fieldFilter, hidesSubRuns, listPath, rowNote, waitingText } from './ExecutionsPage';

describe('fieldFilter', () => {
  it('turns "payload.a.b = v" into the API parameter', () => {
    expect(fieldFilter('payload.customer = 42')).toEqual(['payload__customer', '42']);
    expect(fieldFilter(' result.order.id=A-1 ')).toEqual(['result__order__id', 'A-1']);
  });
  it('refuses what is not a field path', () => {
    expect(fieldFilter('customer = 42')).toBeNull();
    expect(fieldFilter('payload = 42')).toBeNull();
    expect(fieldFilter('payload.bad name = 1')).toBeNull();
  });
});

describe('waitingText', () => {
  it('names the nodes a run waits at, by their names (the id only when a node has none)', () => {
    expect(
      waitingText([
        { kind: 'wait', node_id: 'approval', node_name: 'Manager approval' },
        { kind: 'delay', node_id: 'cool_off', node_name: null },
      ]),
    ).toBe('wait at Manager approval, delay at cool_off');
  });
});

describe('rowNote', () => {
  it('says where a run waits, else why it has not started, else its error', () => {
    const none = { waiting: [], queued: null, error: null };
    expect(rowNote({ ...none, waiting: [{ kind: 'wait', node_id: 'ok', node_name: 'OK?', resume_at: null }], queued: 'x' })).toBe('wait at OK?');
    expect(rowNote({ ...none, queued: 'queued: 5 running, limit 5' })).toBe('queued: 5 running, limit 5');
    expect(rowNote({ ...none, queued: 'queued: the schema is paused' })).toBe('queued: the schema is paused');
    expect(rowNote({ ...none, error: 'node failed\ntrace' })).toBe('node failed');
    expect(rowNote(none)).toBe('');
  });
});

describe('sub-schema runs', () => {
  const query = (address: string) => new URLSearchParams(listPath(new URLSearchParams(address)).split('?')[1]);

  it('are left out by default: the list asks for the top-level runs only', () => {
    expect(hidesSubRuns(new URLSearchParams(''))).toBe(true);
    expect(query('status=failed').get('top_level')).toBe('true');
    expect(query('status=failed').get('status')).toBe('failed');
  });
  it('are listed when the toggle is off, for one parent, or with the subflow trigger', () => {
    expect(query('subruns=show').has('top_level')).toBe(false);
    expect(query('parent=0b0b').has('top_level')).toBe(false);
    expect(query('parent=0b0b').get('parent')).toBe('0b0b');
    expect(query('trigger_type=subflow').has('top_level')).toBe(false);
    expect(query('subruns=show').has('subruns')).toBe(false); // the page's own parameter, not the API's
  });
});
