import { describe, expect, it } from 'vitest';
import { readFlag, writeFlag } from './usePersistentFlag';

function memoryStorage() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

describe('persistent flags', () => {
  it('reads back what was written', () => {
    const s = memoryStorage();
    writeFlag(s, 'panel', true);
    expect(readFlag(s, 'panel', false)).toBe(true);
    writeFlag(s, 'panel', false);
    expect(readFlag(s, 'panel', true)).toBe(false);
  });
  it('falls back when missing, garbled or blocked', () => {
    const s = memoryStorage();
    expect(readFlag(s, 'nothing', true)).toBe(true);
    s.setItem('odd', 'yes please');
    expect(readFlag(s, 'odd', false)).toBe(false);
    const blocked = {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    expect(readFlag(blocked, 'panel', true)).toBe(true);
    expect(() => writeFlag(blocked, 'panel', true)).not.toThrow();
    expect(readFlag(undefined, 'panel', false)).toBe(false);
  });
});
