/**
 * What the editor does to the server and to its store: save, validate, activate / archive,
 * getting ready to run, export, auto-layout, undo / redo, adding a node from the palette
 * (after the selected node, joined to it) and adding a sticky note;
 * with the schema as the server last returned it and the feedback those commands leave
 * (a notice, a failure, the API's validation errors placed on nodes, edges and fields).
 */
import { useCallback, useMemo, useRef, useState, type Dispatch } from 'react';
import { useReactFlow } from '@xyflow/react';
import { ApiError, post } from '../api/client';
import { exportableDefinition } from '../api/credentials';
import { useSaveSchema, useSchemaAction } from '../api/hooks';
import type { ApiFieldError, NodeTypeSpec, Schema, ValidateResponse } from '../api/types';
import { placeErrors, type PlacedErrors } from '../lib/errors';
import { downloadJson, slug } from '../lib/format';
import { outputPorts } from '../lib/graph';
import { elkLayout, freeSlot, noteSlot, slotAfter } from '../lib/layout';
import { NOTE_SIZE } from '../lib/mapping';
import type { EditorAction, EditorState } from '../store/editorStore';
import { useReadableFit } from './useReadableFit';
import type { SchemaDraft } from './useSchemaDraft';

export type StatusChange = 'activate' | 'archive';

export interface EditorCommands {
  /** The schema as the server last returned it: status, version, webhook. */
  current: Schema;
  setCurrent: (schema: Schema) => void;
  notice: string | null;
  failure: unknown;
  errors: PlacedErrors;
  /** Errors not drawn on a node or a field: on edges and on the schema as a whole. */
  generalErrors: ApiFieldError[];
  saving: boolean;
  /** Resolves whether the draft is now saved. */
  save: () => Promise<boolean>;
  validate: () => Promise<void>;
  changeStatus: (change: StatusChange) => Promise<void>;
  /** Saves unsaved changes first (a run uses the stored definition); resolves whether to go on. */
  prepareRun: () => Promise<boolean>;
  exportFile: () => void;
  autoLayout: () => void;
  undo: () => void;
  redo: () => void;
  /** The server restored an old version as `schema`: its problems and a notice (the page reloads the canvas). */
  adoptRestored: (schema: Schema, from: number) => void;
  /** Adds a node right of the selected one, joined from its first output port; else mid-canvas. */
  addFromPalette: (spec: NodeTypeSpec) => void;
  /** Adds a node right of `source`, joined from its `port` (the "+" on an output port). */
  addAfter: (spec: NodeTypeSpec, source: string, port: string | undefined) => void;
  /** Adds an empty sticky note in the middle of the view (on a free spot). */
  addNote: () => void;
}

const problems = (n: number) => `${n} problem${n > 1 ? 's' : ''}`;

export function useEditorCommands({
  schema,
  specs,
  draft,
  state,
  dispatch,
  initialNotice = null,
}: {
  schema: Schema;
  specs: ReadonlyMap<string, NodeTypeSpec>;
  draft: SchemaDraft;
  state: EditorState;
  dispatch: Dispatch<EditorAction>;
  initialNotice?: string | null;
}): EditorCommands {
  const saveMutation = useSaveSchema(schema.id);
  const action = useSchemaAction();
  const rf = useReactFlow();
  const fit = useReadableFit();
  const [current, setCurrent] = useState<Schema>(schema);
  // An unfinished draft opens with what is left to do drawn on it.
  const [apiErrors, setApiErrors] = useState<ApiFieldError[]>(schema.problems ?? []);
  const left = useRef<ApiFieldError[]>(schema.problems ?? []);
  const [notice, setNotice] = useState<string | null>(initialNotice);
  const [failure, setFailure] = useState<unknown>(null);
  const { name, description, definition, dirty, markSaved } = draft;

  // Errors place by node and edge index: recomputed when ids move, not on every keystroke (a new
  // map re-renders every node on the canvas).
  const idsKey = useMemo(() => JSON.stringify([definition.nodes.map((n) => n.id), definition.edges.map((e) => e.id)]), [definition.nodes, definition.edges]);
  const errors = useMemo(() => {
    const [nodes, edges] = JSON.parse(idsKey) as [string[], string[]];
    return placeErrors(apiErrors, { nodes: nodes.map((id) => ({ id, type: '' })), edges: edges.map((id) => ({ id, source: '', target: '' })) });
  }, [apiErrors, idsKey]);
  const generalErrors = [...errors.general, ...[...errors.byEdge.values()].flat()];

  const save = useCallback(async (): Promise<boolean> => {
    setFailure(null);
    setNotice(null);
    try {
      const saved = await saveMutation.mutateAsync({ name, description, definition });
      // A draft saves unfinished: what is left is drawn on its nodes and fields, like errors.
      left.current = saved.problems ?? [];
      setApiErrors(left.current);
      setCurrent(saved);
      markSaved({ name, description, definition });
      const n = left.current.length;
      setNotice(
        n
          ? `Saved as a draft · version ${saved.version} · ${n} to finish before it can be activated or run`
          : `Saved · version ${saved.version}`,
      );
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) {
        setApiErrors(e.errors);
        setFailure(new Error(`Not saved: ${problems(e.errors.length)} to fix`));
      } else setFailure(e);
      return false;
    }
  }, [saveMutation, name, description, definition, markSaved]);

  const validate = async () => {
    setFailure(null);
    setNotice(null);
    try {
      const r = await post<ValidateResponse>(`/schemas/${schema.id}/validate/`, { definition });
      setApiErrors(r.errors ?? []);
      setNotice(r.valid ? 'Valid ✓' : null);
      if (!r.valid) setFailure(new Error(`${problems(r.errors.length)} found`));
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) setApiErrors(e.errors);
      setFailure(e);
    }
  };

  const changeStatus = async (change: StatusChange) => {
    if (dirty && !(await save())) return;
    setFailure(null);
    try {
      const s = await action.mutateAsync({ id: schema.id, action: change });
      setCurrent(s);
      setApiErrors([]);
      setNotice(change === 'activate' ? 'Activated' : 'Archived');
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) setApiErrors(e.errors);
      setFailure(e);
    }
  };

  const prepareRun = async () => {
    if (dirty && !(await save())) return false;
    if (left.current.length === 0) return true;
    setApiErrors(left.current);
    setFailure(new Error(`Finish the draft before running it: ${problems(left.current.length)} marked on the nodes`));
    return false;
  };

  // Credentials by name only: an id means nothing on another server (issue 17).
  const exportFile = () =>
    void exportableDefinition(definition).then((exported) => downloadJson(`${slug(name)}.schema.json`, { name, description, definition: exported }), setFailure);

  const autoLayout = () => {
    // React Flow's measured sizes, so tall nodes (many ports, errors) get the room they take.
    const measured = new Map(rf.getNodes().map((n) => [n.id, n.measured]));
    const nodes = state.nodes.map((n) => ({
      id: n.id,
      width: measured.get(n.id)?.width,
      height: measured.get(n.id)?.height,
      ports: outputPorts(n.data, specs.get(n.data.type)),
    }));
    void elkLayout(nodes, state.edges).then((positions) => {
      dispatch({ kind: 'layout', positions });
      // After React Flow has applied the new positions.
      setTimeout(() => fit(200), 50);
    }, setFailure);
  };

  const adoptRestored = (restored: Schema, from: number) => {
    left.current = restored.problems ?? [];
    setApiErrors(left.current);
    setCurrent(restored);
    setFailure(null);
    setNotice(
      restored.version === current.version
        ? `Version ${from} is the current definition: nothing to restore`
        : `Restored version ${from} as version ${restored.version}`,
    );
  };

  const undo = useCallback(() => dispatch({ kind: 'undo' }), [dispatch]);
  const redo = useCallback(() => dispatch({ kind: 'redo' }), [dispatch]);

  /** Pans (at the same zoom) so that a box just added is wholly in view. */
  const keepInView = (position: { x: number; y: number }, size: { width: number; height: number }) => {
    const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    if (!el) return;
    const topLeft = rf.flowToScreenPosition(position);
    const bottomRight = rf.flowToScreenPosition({ x: position.x + size.width, y: position.y + size.height });
    if (topLeft.x < el.left || topLeft.y < el.top || bottomRight.x > el.right || bottomRight.y > el.bottom) {
      void rf.setCenter(position.x + size.width / 2, position.y + size.height / 2, { zoom: rf.getZoom(), duration: 200 });
    }
  };

  const addAfter = (spec: NodeTypeSpec, source: string, port: string | undefined) => {
    const anchor = state.nodes.find((n) => n.id === source);
    if (!anchor) return;
    const position = slotAfter(anchor.position, state.nodes.map((n) => n.position));
    dispatch({ kind: 'addNode', spec, position, connectFrom: port ? { source: anchor.id, port } : undefined });
    // Keep the new node in view (a chain grows to the right, past the canvas edge).
    keepInView(position, { width: 220, height: 80 });
  };

  const viewCentre = () => {
    const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    return el ? rf.screenToFlowPosition({ x: el.left + el.width / 2, y: el.top + el.height / 2 }) : { x: 0, y: 0 };
  };

  const addNote = () => {
    const p = viewCentre();
    const measured = new Map(rf.getNodes().map((n) => [n.id, n.measured]));
    const occupied = [...state.nodes, ...state.notes].map((n) => ({ ...n.position, ...(measured.get(n.id) ?? {}) }));
    const position = noteSlot({ x: Math.round(p.x - NOTE_SIZE.width / 2), y: Math.round(p.y - NOTE_SIZE.height / 2) }, NOTE_SIZE, occupied);
    dispatch({ kind: 'addNote', position });
    keepInView(position, NOTE_SIZE);
  };

  const addFromPalette = (spec: NodeTypeSpec) => {
    const occupied = state.nodes.map((n) => n.position);
    const selected = state.nodes.filter((n) => n.selected);
    const anchor = selected.length === 1 ? selected[0]! : undefined;
    if (anchor) {
      addAfter(spec, anchor.id, outputPorts(anchor.data, specs.get(anchor.data.type))[0]);
      return;
    }
    const p = viewCentre();
    dispatch({ kind: 'addNode', spec, position: freeSlot({ x: Math.round(p.x - 110), y: Math.round(p.y - 40) }, occupied) });
  };

  return {
    current,
    setCurrent,
    notice,
    failure,
    errors,
    generalErrors,
    saving: saveMutation.isPending,
    save,
    validate,
    changeStatus,
    prepareRun,
    exportFile,
    autoLayout,
    adoptRestored,
    undo,
    redo,
    addFromPalette,
    addAfter,
    addNote,
  };
}
