/** Pure graph helpers over the definition format: ports, ancestry, ids, expression variables. */
import type { Definition, DefinitionEdge, DefinitionNode, JsonObject, NodeTypeSpec } from '../api/types';

export const DEFAULT_PORT = 'out';
export const ERROR_PORT = 'error';

/** Output ports a node has, in display order (contract: static, dynamic from config, `error`). */
export function outputPorts(node: Pick<DefinitionNode, 'config' | 'on_error'>, spec: NodeTypeSpec | undefined): string[] {
  const ports: string[] = [];
  if (spec?.dynamic_ports) {
    const { from, key } = spec.dynamic_ports;
    const items = node.config?.[from];
    if (Array.isArray(items)) {
      for (const item of items) {
        if (item && typeof item === 'object' && !Array.isArray(item)) {
          const name = (item as JsonObject)[key];
          if (typeof name === 'string' && name && !ports.includes(name)) ports.push(name);
        }
      }
    }
  }
  for (const p of spec?.ports ?? [DEFAULT_PORT]) if (!ports.includes(p)) ports.push(p);
  if (node.on_error === 'error' && !ports.includes(ERROR_PORT)) ports.push(ERROR_PORT);
  return ports;
}

/** Triggers start a run: they take no input. */
export function hasInput(spec: NodeTypeSpec | undefined): boolean {
  return !spec?.is_trigger;
}

/** Ids of every node from which `nodeId` can be reached (its upstream), nearest first. */
export function upstreamOf(nodeId: string, edges: readonly Pick<DefinitionEdge, 'source' | 'target'>[]): string[] {
  const parents = new Map<string, string[]>();
  for (const e of edges) {
    const list = parents.get(e.target) ?? [];
    list.push(e.source);
    parents.set(e.target, list);
  }
  const seen = new Set<string>([nodeId]);
  const order: string[] = [];
  const queue = [nodeId];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const p of parents.get(cur) ?? []) {
      if (!seen.has(p)) {
        seen.add(p);
        order.push(p);
        queue.push(p);
      }
    }
  }
  return order;
}

/** Variables an expression in `nodeId` may use (shown in the field hint); `env.*` are the owner's variables. */
export function expressionVariables(def: Pick<Definition, 'edges' | 'variables'>, nodeId: string): string[] {
  const vars = Object.keys(def.variables ?? {}).map((k) => `vars.${k}`);
  const upstream = upstreamOf(nodeId, def.edges).map((id) => `nodes.${id}.output`);
  return [...vars, 'trigger', 'input', ...upstream, 'env.*'];
}

/** A readable id not yet taken: `http_request`, `http_request_2`, … */
export function uniqueId(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const clean = base.replace(/[^A-Za-z0-9_]/g, '_') || 'node';
  if (!used.has(clean)) return clean;
  for (let i = 2; ; i++) {
    const id = `${clean}_${i}`;
    if (!used.has(id)) return id;
  }
}

export function edgeId(source: string, port: string, target: string, taken: Iterable<string>): string {
  return uniqueId(`e_${source}_${port}_${target}`, taken);
}

/** Edges whose source port no longer exists on their node (after a config or on_error change). */
export function danglingEdges(
  nodes: readonly DefinitionNode[],
  edges: readonly DefinitionEdge[],
  specs: ReadonlyMap<string, NodeTypeSpec>,
): DefinitionEdge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.filter((e) => {
    const src = byId.get(e.source);
    const tgt = byId.get(e.target);
    if (!src || !tgt) return true;
    const spec = specs.get(src.type);
    if (!spec) return false; // unknown type: keep, the API reports it
    return !outputPorts(src, spec).includes(e.source_port ?? DEFAULT_PORT);
  });
}

/** Whether a new edge may be drawn: no self loop, no duplicate, target accepts input. */
export function canConnect(
  source: string,
  port: string,
  target: string,
  edges: readonly DefinitionEdge[],
  targetSpec: NodeTypeSpec | undefined,
): boolean {
  if (source === target) return false;
  if (!hasInput(targetSpec)) return false;
  return !edges.some((e) => e.source === source && (e.source_port ?? DEFAULT_PORT) === port && e.target === target);
}
