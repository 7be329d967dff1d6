/** Undo/redo stacks of immutable snapshots, bounded. Pure: each call returns a new History. */
export interface History<T> {
  past: T[];
  future: T[];
}

export const LIMIT = 100;

export function emptyHistory<T>(): History<T> {
  return { past: [], future: [] };
}

/** Record `current` before a change; a new change drops the redo stack. */
export function record<T>(h: History<T>, current: T): History<T> {
  const past = [...h.past, current];
  if (past.length > LIMIT) past.shift();
  return { past, future: [] };
}

export function undo<T>(h: History<T>, current: T): { history: History<T>; value: T } | null {
  if (!h.past.length) return null;
  const value = h.past[h.past.length - 1]!;
  return { history: { past: h.past.slice(0, -1), future: [current, ...h.future] }, value };
}

export function redo<T>(h: History<T>, current: T): { history: History<T>; value: T } | null {
  if (!h.future.length) return null;
  const [value, ...future] = h.future;
  return { history: { past: [...h.past, current], future }, value: value! };
}
