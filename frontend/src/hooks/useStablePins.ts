/**
 * The draft's pins (node id → pinned data) as one Map that keeps its identity while no pin
 * changes, so dragging a node does not recompute what depends on the pins (expression scope).
 */
import { useRef } from 'react';
import type { JsonValue } from '../api/types';
import type { CanvasNode } from '../lib/mapping';
import { pinsOf } from '../lib/pins';

export function samePins(a: ReadonlyMap<string, JsonValue>, b: ReadonlyMap<string, JsonValue>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, value] of a) if (!b.has(id) || b.get(id) !== value) return false;
  return true;
}

export function useStablePins(nodes: readonly CanvasNode[]): ReadonlyMap<string, JsonValue> {
  const last = useRef<ReadonlyMap<string, JsonValue>>(new Map());
  const next = pinsOf(nodes);
  if (!samePins(next, last.current)) last.current = next;
  return last.current;
}
