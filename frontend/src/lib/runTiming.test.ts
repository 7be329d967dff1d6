import { afterEach, describe, expect, it, vi } from 'vitest';
import { runTiming } from './runTiming';

const created = '2026-12-01T10:00:00Z';

describe('runTiming', () => {
  afterEach(() => vi.useRealTimers());

  it('a pending run not started yet is queued since its creation, with no duration however long it waits', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-01T10:05:00Z'));
    const pending = { status: 'pending', created_at: created, started_at: null, finished_at: null } as const;
    expect(runTiming(pending)).toEqual({ startedAt: null, queuedSince: created, durationMs: null });
  });

  it('a run that started counts from its start, not its creation (live while it runs)', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-12-01T10:05:00Z'));
    const running = { status: 'running', created_at: created, started_at: '2026-12-01T10:04:00Z', finished_at: null } as const;
    expect(runTiming(running)).toEqual({ startedAt: '2026-12-01T10:04:00Z', queuedSince: null, durationMs: 60_000 });
    const done = { ...running, status: 'completed', finished_at: '2026-12-01T10:04:02.500Z' } as const;
    expect(runTiming(done).durationMs).toBe(2_500);
  });

  it('a run cancelled before it started has neither a start nor a duration', () => {
    const cancelled = { status: 'cancelled', created_at: created, started_at: null, finished_at: '2026-12-01T10:01:00Z' } as const;
    expect(runTiming(cancelled)).toEqual({ startedAt: null, queuedSince: null, durationMs: null });
  });
});
