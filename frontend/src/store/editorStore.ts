/**
 * The editor's typed store: the canvas graph, the sticky notes, the schema variables and the
 * undo/redo history. A pure reducer (unit-testable) behind `useEditorStore`.
 */
import { useReducer } from 'react';
import { applyEdgeChanges, applyNodeChanges, type EdgeChange, type NodeChange } from '@xyflow/react';
import type { Definition, JsonObject, NodeTypeSpec } from '../api/types';
import { canConnect, danglingEdges, DEFAULT_PORT, edgeId, uniqueId } from '../lib/graph';
import { emptyHistory, record, redo, undo, type History } from '../lib/history';
import { defaultConfig } from '../lib/jsonSchema';
import { clipBoxes, pasteOffset, pastePlan, type Clip } from '../lib/clipboard';
import {
  fromCanvas,
  INPUT_HANDLE,
  NODE_KIND,
  NOTE_KIND,
  NOTE_SIZE,
  NOTE_Z,
  toCanvas,
  toCanvasEdge,
  toCanvasNode,
  toCanvasNote,
  type AnyCanvasNode,
  type CanvasEdge,
  type CanvasNode,
  type CanvasNote,
  type SchemaNodeData,
} from '../lib/mapping';

export interface Snapshot {
  nodes: CanvasNode[];
  edges: CanvasEdge[];
  variables: JsonObject;
  /** Sticky notes: drawn on the canvas, saved in `definition.notes`, never executed. */
  notes: CanvasNote[];
}

export interface EditorState extends Snapshot {
  history: History<Snapshot>;
  /** Last coalescing key: consecutive edits of one field make one undo step. */
  lastKey: string | null;
}

export type EditorAction =
  | { kind: 'load'; definition: Definition }
  /** React Flow's changes, to schema nodes and notes alike (told apart by id). */
  | { kind: 'nodesChange'; changes: NodeChange<AnyCanvasNode>[] }
  | { kind: 'edgesChange'; changes: EdgeChange<CanvasEdge>[] }
  | { kind: 'connect'; source: string; sourceHandle: string | null; target: string; specs: Map<string, NodeTypeSpec> }
  /** `connectFrom`: also draw an edge from that node's port to the new node (one undo step). */
  | { kind: 'addNode'; spec: NodeTypeSpec; position: { x: number; y: number }; connectFrom?: { source: string; port: string } }
  | { kind: 'updateNode'; id: string; patch: Partial<SchemaNodeData>; specs: Map<string, NodeTypeSpec>; coalesce?: string }
  | { kind: 'renameNodeId'; id: string; newId: string }
  | { kind: 'setVariables'; variables: JsonObject; coalesce?: string }
  | { kind: 'select'; id: string | null }
  | { kind: 'deleteSelected' }
  /**
   * Nodes and notes copied (from this schema or another): added with free ids, centred on `at` (a canvas
   * point: the mouse or the middle of the view; else beside the originals), selected, one undo step.
   */
  | { kind: 'paste'; clip: Clip; at?: { x: number; y: number } }
  /** Positions from `elkLayout` (computed outside: ELK answers with a promise). */
  | { kind: 'layout'; positions: ReadonlyMap<string, { x: number; y: number }> }
  /** A new empty sticky note at `position`, selected. */
  | { kind: 'addNote'; position: { x: number; y: number } }
  | { kind: 'updateNote'; id: string; text: string }
  | { kind: 'checkpoint' }
  | { kind: 'undo' }
  | { kind: 'redo' };

export function initialEditorState(definition?: Definition): EditorState {
  const { nodes, edges, notes } = toCanvas(definition ?? { nodes: [], edges: [] });
  return { nodes, edges, notes, variables: definition?.variables ?? {}, history: emptyHistory(), lastKey: null };
}

const snap = (s: EditorState): Snapshot => ({ nodes: s.nodes, edges: s.edges, variables: s.variables, notes: s.notes });
/** Node and note ids share one canvas: a new one must be free among both. */
const takenIds = (s: Snapshot) => [...s.nodes.map((n) => n.id), ...s.notes.map((n) => n.id)];
const changedId = (c: NodeChange<AnyCanvasNode>) => (c.type === 'add' ? c.item.id : c.id);
const deselect = <T extends { selected?: boolean }>(items: T[]) => items.map((n) => (n.selected ? { ...n, selected: false } : n));

/** Apply a change that the user can undo. */
function commit(s: EditorState, next: Partial<Snapshot>, key: string | null = null): EditorState {
  const history = key !== null && key === s.lastKey ? s.history : record(s.history, snap(s));
  return { ...s, ...next, history, lastKey: key };
}

export function editorReducer(s: EditorState, a: EditorAction): EditorState {
  switch (a.kind) {
    case 'load':
      return initialEditorState(a.definition);
    case 'nodesChange': {
      const noteIds = new Set(s.notes.map((n) => n.id));
      const toNotes = a.changes.filter((c) => noteIds.has(changedId(c))) as NodeChange<CanvasNote>[];
      const toNodes = a.changes.filter((c) => !noteIds.has(changedId(c))) as NodeChange<CanvasNode>[];
      const notes = toNotes.length ? applyNodeChanges(toNotes, s.notes) : s.notes;
      const nodes = toNodes.length ? applyNodeChanges(toNodes, s.nodes) : s.nodes;
      if (a.changes.some((c) => c.type === 'remove')) {
        const alive = new Set(nodes.map((n) => n.id));
        const edges = s.edges.filter((e) => alive.has(e.source) && alive.has(e.target));
        return commit(s, { nodes, edges, notes });
      }
      // Moves and resizes are recorded once at their start (checkpoint); selection is not an edit.
      return { ...s, nodes, notes };
    }
    case 'edgesChange': {
      const removes = a.changes.some((c) => c.type === 'remove');
      const edges = applyEdgeChanges(a.changes, s.edges);
      return removes ? commit(s, { edges }) : { ...s, edges };
    }
    case 'connect': {
      const port = a.sourceHandle ?? DEFAULT_PORT;
      const target = s.nodes.find((n) => n.id === a.target);
      const defEdges = s.edges.map((e) => ({ id: e.id, source: e.source, target: e.target, source_port: e.sourceHandle ?? DEFAULT_PORT }));
      if (!target || !canConnect(a.source, port, a.target, defEdges, a.specs.get(target.data.type))) return s;
      const id = edgeId(a.source, port, a.target, s.edges.map((e) => e.id));
      const edge: CanvasEdge = { id, source: a.source, target: a.target, sourceHandle: port, targetHandle: INPUT_HANDLE };
      return commit(s, { edges: [...s.edges, edge] });
    }
    case 'addNode': {
      const id = uniqueId(a.spec.type, takenIds(s));
      const node: CanvasNode = {
        id,
        type: NODE_KIND,
        position: a.position,
        selected: true,
        data: { type: a.spec.type, name: a.spec.label, config: defaultConfig(a.spec.config_schema) },
      };
      const nodes = [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node];
      const from = a.connectFrom;
      if (!from || !s.nodes.some((n) => n.id === from.source) || !canConnect(from.source, from.port, id, [], a.spec)) return commit(s, { nodes });
      const edge: CanvasEdge = {
        id: edgeId(from.source, from.port, id, s.edges.map((e) => e.id)),
        source: from.source,
        target: id,
        sourceHandle: from.port,
        targetHandle: INPUT_HANDLE,
      };
      return commit(s, { nodes, edges: [...s.edges, edge] });
    }
    case 'updateNode': {
      const nodes = s.nodes.map((n) => (n.id === a.id ? { ...n, data: { ...n.data, ...a.patch } } : n));
      const def = fromCanvas(nodes, s.edges, s.variables);
      const gone = new Set(danglingEdges(def.nodes, def.edges, a.specs).map((e) => e.id));
      const edges = gone.size ? s.edges.filter((e) => !gone.has(e.id)) : s.edges;
      return commit(s, { nodes, edges }, a.coalesce ?? null);
    }
    case 'renameNodeId': {
      if (!a.newId || takenIds(s).includes(a.newId)) return s;
      const nodes = s.nodes.map((n) => (n.id === a.id ? { ...n, id: a.newId } : n));
      const edges = s.edges.map((e) => ({
        ...e,
        source: e.source === a.id ? a.newId : e.source,
        target: e.target === a.id ? a.newId : e.target,
      }));
      return commit(s, { nodes, edges });
    }
    case 'setVariables':
      return commit(s, { variables: a.variables }, a.coalesce ?? null);
    case 'select':
      return {
        ...s,
        nodes: s.nodes.map((n) => {
          const selected = n.id === a.id;
          return n.selected === selected ? n : { ...n, selected };
        }),
        edges: deselect(s.edges),
        notes: deselect(s.notes),
      };
    case 'deleteSelected': {
      const gone = new Set(s.nodes.filter((n) => n.selected).map((n) => n.id));
      const edges = s.edges.filter((e) => !e.selected && !gone.has(e.source) && !gone.has(e.target));
      const notes = s.notes.filter((n) => !n.selected);
      if (!gone.size && edges.length === s.edges.length && notes.length === s.notes.length) return s;
      return commit(s, { nodes: s.nodes.filter((n) => !gone.has(n.id)), edges, notes });
    }
    case 'addNote': {
      const id = uniqueId('note', takenIds(s));
      const note: CanvasNote = { id, type: NOTE_KIND, position: a.position, ...NOTE_SIZE, zIndex: NOTE_Z, selected: true, data: { text: '' } };
      return commit(s, { nodes: deselect(s.nodes), edges: deselect(s.edges), notes: [...deselect(s.notes), note] });
    }
    case 'updateNote': {
      const notes = s.notes.map((n) => (n.id === a.id ? { ...n, data: { ...n.data, text: a.text } } : n));
      return commit(s, { notes }, `note:${a.id}`);
    }
    case 'paste': {
      const offset = a.at
        ? pasteOffset(
            clipBoxes(a.clip),
            a.at,
            [...s.nodes.map((n) => n.position), ...s.notes.map((n) => ({ ...n.position, width: n.width, height: n.height }))],
          )
        : undefined;
      const plan = pastePlan(
        a.clip,
        takenIds(s),
        s.edges.map((e) => e.id),
        offset,
      );
      const added = plan.nodes.map((n) => ({ ...toCanvasNode(n), selected: true }));
      const nodes = [...deselect(s.nodes), ...added];
      const notes = [...deselect(s.notes), ...plan.notes.map((n) => ({ ...toCanvasNote(n), selected: true }))];
      return commit(s, { nodes, notes, edges: [...deselect(s.edges), ...plan.edges.map(toCanvasEdge)] });
    }
    case 'layout': {
      const pos = a.positions;
      return commit(s, { nodes: s.nodes.map((n) => ({ ...n, position: pos.get(n.id) ?? n.position })) });
    }
    case 'checkpoint':
      return { ...s, history: record(s.history, snap(s)), lastKey: null };
    case 'undo': {
      const r = undo(s.history, snap(s));
      return r ? { ...s, ...r.value, history: r.history, lastKey: null } : s;
    }
    case 'redo': {
      const r = redo(s.history, snap(s));
      return r ? { ...s, ...r.value, history: r.history, lastKey: null } : s;
    }
  }
}

export function useEditorStore(definition?: Definition) {
  return useReducer(editorReducer, definition, initialEditorState);
}
