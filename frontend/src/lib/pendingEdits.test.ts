import { describe, expect, it } from 'vitest';
import { flushPendingEdits, registerPendingEdit } from './pendingEdits';

describe('pending edits (text typed but not committed to the store yet)', () => {
  it('commits every registered field and says whether any had text', () => {
    const committed: string[] = [];
    let waiting = ['a', 'b'];
    const offA = registerPendingEdit(() => (waiting.includes('a') ? (committed.push('a'), true) : false));
    const offB = registerPendingEdit(() => (waiting.includes('b') ? (committed.push('b'), true) : false));
    expect(flushPendingEdits()).toBe(true);
    expect(committed).toEqual(['a', 'b']);
    waiting = [];
    expect(flushPendingEdits()).toBe(false);
    offA();
    offB();
  });

  it('forgets a field once it unregisters (an unmounted editor)', () => {
    let calls = 0;
    const off = registerPendingEdit(() => (calls++, true));
    off();
    expect(flushPendingEdits()).toBe(false);
    expect(calls).toBe(0);
  });
});
