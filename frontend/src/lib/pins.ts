/**
 * Pinned test data: JSON kept on a node of the draft (`pinned_data`, saved with the schema) that
 * stands in for the node's output — a trigger's is its payload — in previews and test runs ("Run
 * this node", "Run to here": a pinned node does not run), so tests repeat without calling the
 * outside world. The walker ignores the key: production runs never see it.
 */
import type { JsonValue } from '../api/types';
import type { CanvasNode, SchemaNodeData } from './mapping';

export const PIN_KEY = 'pinned_data';

export function pinnedOf(data: Pick<SchemaNodeData, 'extra'>): JsonValue | undefined {
  const extra = data.extra;
  return extra && PIN_KEY in extra ? (extra[PIN_KEY] as JsonValue) : undefined;
}

/** The `extra` of a node with `value` pinned (or the pin removed when `value` is undefined). */
export function withPin(data: Pick<SchemaNodeData, 'extra'>, value: JsonValue | undefined): Record<string, unknown> | undefined {
  const rest = Object.fromEntries(Object.entries(data.extra ?? {}).filter(([k]) => k !== PIN_KEY));
  const next = value === undefined ? rest : { ...rest, [PIN_KEY]: value };
  return Object.keys(next).length ? next : undefined;
}

/** The pinned data of the schema's trigger, if a trigger has some. */
export function pinnedTrigger(nodes: readonly CanvasNode[], isTrigger: (type: string) => boolean): JsonValue | undefined {
  for (const n of nodes) {
    if (isTrigger(n.data.type)) {
      const pinned = pinnedOf(n.data);
      if (pinned !== undefined) return pinned;
    }
  }
  return undefined;
}

/** Every pinned node's data, by node id. */
export function pinsOf(nodes: readonly Pick<CanvasNode, 'id' | 'data'>[]): Map<string, JsonValue> {
  const pins = new Map<string, JsonValue>();
  for (const n of nodes) {
    const pinned = pinnedOf(n.data);
    if (pinned !== undefined) pins.set(n.id, pinned);
  }
  return pins;
}

/** The pins as the API takes them (`pinned`: node id → data), or undefined when none. */
export function pinsBody(pins: ReadonlyMap<string, JsonValue>): Record<string, JsonValue> | undefined {
  return pins.size ? Object.fromEntries(pins) : undefined;
}
