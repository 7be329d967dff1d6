/** Places the API's validation errors: per node, per edge, per form field, and the rest. */
import type { ApiFieldError, Definition } from '../api/types';
import { parsePath, formatPath } from './jsonSchema';

export interface PlacedErrors {
  byNode: Map<string, ApiFieldError[]>;
  byEdge: Map<string, ApiFieldError[]>;
  /** node id → field path inside the node (`config.url`, `retry.max_attempts`, `name`) → messages */
  byField: Map<string, Map<string, string[]>>;
  general: ApiFieldError[];
}

export function placeErrors(errors: readonly ApiFieldError[], def?: Pick<Definition, 'nodes' | 'edges'>): PlacedErrors {
  const out: PlacedErrors = { byNode: new Map(), byEdge: new Map(), byField: new Map(), general: [] };
  for (const err of errors) {
    let nodeId = err.node_id ?? null;
    let edgeId = err.edge_id ?? null;
    let fieldPath: string | null = null;
    if (err.path) {
      const parts = parsePath(err.path);
      // `nodes[2].config.url` names the node by index when node_id is missing.
      if (parts[0] === 'nodes' && typeof parts[1] === 'number') {
        nodeId ??= def?.nodes[parts[1]]?.id ?? null;
        if (parts.length > 2) fieldPath = formatPath(parts.slice(2));
      } else if (parts[0] === 'edges' && typeof parts[1] === 'number') {
        edgeId ??= def?.edges[parts[1]]?.id ?? null;
      }
    }
    if (nodeId) {
      push(out.byNode, nodeId, err);
      if (fieldPath) {
        const fields = out.byField.get(nodeId) ?? new Map<string, string[]>();
        const list = fields.get(fieldPath) ?? [];
        list.push(err.message);
        fields.set(fieldPath, list);
        out.byField.set(nodeId, fields);
      }
    } else if (edgeId) {
      push(out.byEdge, edgeId, err);
    } else {
      out.general.push(err);
    }
  }
  return out;
}

function push<K, V>(map: Map<K, V[]>, key: K, v: V) {
  const list = map.get(key) ?? [];
  list.push(v);
  map.set(key, list);
}

/** Messages for one field path and everything below it (an object's errors show on its fieldset). */
export function fieldMessages(fields: Map<string, string[]> | undefined, path: string): string[] {
  return fields?.get(path) ?? [];
}
