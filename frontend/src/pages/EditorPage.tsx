/**
 * The schema editor: palette, canvas, side panel; save / validate / activate / archive,
 * webhook details, run now, export; undo/redo, auto-layout and an unsaved-changes guard.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useBlocker, useNavigate, useParams } from 'react-router-dom';
import { ReactFlowProvider, useReactFlow, type Connection } from '@xyflow/react';
import { ApiError, post } from '../api/client';
import { useExecuteSchema, useNodeTypes, useSaveSchema, useSchema, useSchemaAction } from '../api/hooks';
import type { ApiFieldError, JsonObject, NodeTypeSpec, Schema } from '../api/types';
import { Dialog } from '../components/Dialog';
import { ErrorBanner, ErrorList } from '../components/ErrorList';
import { FlowCanvas } from '../components/FlowCanvas';
import { JsonText, parseJson } from '../components/JsonText';
import { NodePanel } from '../components/NodePanel';
import { Palette } from '../components/Palette';
import { copyText, downloadJson, slug } from '../lib/format';
import { canConnect, DEFAULT_PORT, expressionVariables } from '../lib/graph';
import { placeErrors } from '../lib/errors';
import { fromCanvas, fromCanvasEdge, toCanvas } from '../lib/mapping';
import { EditorContext, type EditorContextValue } from '../nodes/EditorContext';
import { useEditorStore } from '../store/editorStore';

export function EditorPage() {
  const { id } = useParams<{ id: string }>();
  const schema = useSchema(id);
  const types = useNodeTypes();
  if (schema.error || types.error) return <div className="page"><ErrorBanner error={schema.error ?? types.error} /></div>;
  if (!schema.data || !types.data) return <div className="page-loading" role="status">Loading editor…</div>;
  return (
    <ReactFlowProvider>
      <Editor key={schema.data.id} schema={schema.data} specList={types.data} />
    </ReactFlowProvider>
  );
}

const serialize = (name: string, description: string, def: unknown) => JSON.stringify({ name, description, def });

function Editor({ schema, specList }: { schema: Schema; specList: NodeTypeSpec[] }) {
  const specs = useMemo(() => new Map(specList.map((s) => [s.type, s])), [specList]);
  const [state, dispatch] = useEditorStore(schema.definition);
  const [name, setName] = useState(schema.name);
  const [description, setDescription] = useState(schema.description ?? '');
  const [baseline, setBaseline] = useState(() => {
    const { nodes, edges } = toCanvas(schema.definition);
    return serialize(schema.name, schema.description ?? '', fromCanvas(nodes, edges, schema.definition.variables ?? {}));
  });
  const [apiErrors, setApiErrors] = useState<ApiFieldError[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [showRun, setShowRun] = useState(false);
  const [showHook, setShowHook] = useState(false);
  const [current, setCurrent] = useState<Schema>(schema);
  const save = useSaveSchema(schema.id);
  const action = useSchemaAction();
  const navigate = useNavigate();
  const rf = useReactFlow();

  const definition = useMemo(() => fromCanvas(state.nodes, state.edges, state.variables), [state.nodes, state.edges, state.variables]);
  const dirty = serialize(name, description, definition) !== baseline;
  const placed = useMemo(() => placeErrors(apiErrors, definition), [apiErrors, definition]);
  const selected = state.nodes.filter((n) => n.selected);
  const selectedNode = selected.length === 1 ? selected[0] : undefined;

  // Unsaved changes: the browser's prompt on unload, ours on in-app navigation.
  useEffect(() => {
    if (!dirty) return;
    const h = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', h);
    return () => window.removeEventListener('beforeunload', h);
  }, [dirty]);
  const blocker = useBlocker(({ currentLocation, nextLocation }) => dirty && currentLocation.pathname !== nextLocation.pathname);

  const doSave = useCallback(async (): Promise<boolean> => {
    setFailure(null);
    setNotice(null);
    try {
      const saved = await save.mutateAsync({ name, description, definition });
      setApiErrors([]);
      setCurrent(saved);
      setBaseline(serialize(name, description, definition));
      setNotice(`Saved · version ${saved.version}`);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) {
        setApiErrors(e.errors);
        setFailure(new Error(`Not saved: ${e.errors.length} problem${e.errors.length > 1 ? 's' : ''} to fix`));
      } else setFailure(e);
      return false;
    }
  }, [save, name, description, definition]);

  const doValidate = async () => {
    setFailure(null);
    setNotice(null);
    try {
      const r = await post<{ valid: boolean; errors: ApiFieldError[] }>(`/schemas/${schema.id}/validate/`, { definition });
      setApiErrors(r.errors ?? []);
      setNotice(r.valid ? 'Valid ✓' : null);
      if (!r.valid) setFailure(new Error(`${r.errors.length} problem${r.errors.length > 1 ? 's' : ''} found`));
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) setApiErrors(e.errors);
      setFailure(e);
    }
  };

  const doAction = async (act: 'activate' | 'archive') => {
    if (dirty && !(await doSave())) return;
    setFailure(null);
    try {
      const s = await action.mutateAsync({ id: schema.id, action: act });
      setCurrent(s);
      setApiErrors([]);
      setNotice(act === 'activate' ? 'Activated' : 'Archived');
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) setApiErrors(e.errors);
      setFailure(e);
    }
  };

  const openRun = async () => {
    if (dirty && !(await doSave())) return;
    setShowRun(true);
  };

  // Keyboard: undo/redo/save, unless typing in a field (native text undo wins there).
  useEffect(() => {
    const h = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      if (k === 's') {
        e.preventDefault();
        void doSave();
        return;
      }
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
      if (k === 'z' && !e.shiftKey) {
        e.preventDefault();
        dispatch({ kind: 'undo' });
      } else if ((k === 'z' && e.shiftKey) || k === 'y') {
        e.preventDefault();
        dispatch({ kind: 'redo' });
      }
    };
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  }, [dispatch, doSave]);

  const addAtCenter = (spec: NodeTypeSpec) => {
    const el = document.querySelector('[data-testid="canvas"]')?.getBoundingClientRect();
    const p = el ? rf.screenToFlowPosition({ x: el.left + el.width / 2, y: el.top + el.height / 2 }) : { x: 0, y: 0 };
    const jitter = (state.nodes.length % 5) * 24;
    dispatch({ kind: 'addNode', spec, position: { x: Math.round(p.x - 90 + jitter), y: Math.round(p.y - 30 + jitter) } });
  };

  const isValidConnection = useCallback(
    (c: Connection | { source: string; target: string; sourceHandle?: string | null }) => {
      const target = state.nodes.find((n) => n.id === c.target);
      return canConnect(c.source, c.sourceHandle ?? DEFAULT_PORT, c.target, state.edges.map(fromCanvasEdge), specs.get(target?.data.type ?? ''));
    },
    [state.nodes, state.edges, specs],
  );

  const ctx: EditorContextValue = useMemo(
    () => ({ specs, errorsByNode: placed.byNode, statusByNode: new Map(), readOnly: false }),
    [specs, placed.byNode],
  );
  const generalErrors = [...placed.general, ...[...placed.byEdge.values()].flat()];
  const canUndo = state.history.past.length > 0;
  const canRedo = state.history.future.length > 0;
  const status = current.status;

  return (
    <EditorContext.Provider value={ctx}>
      <div className="editor" data-testid="editor">
        <div className="editor-bar">
          <h1 className="sr-only">Edit schema {name}</h1>
          <input
            className="title-input"
            aria-label="Schema name"
            data-testid="schema-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <span className={`badge badge-${status}`} data-testid="schema-status">
            {status}
          </span>
          <span className="muted small">v{current.version}</span>
          {dirty && (
            <span className="dirty-dot" data-testid="dirty">
              ● Unsaved
            </span>
          )}
          <div className="toolbar">
            <button type="button" className="btn" aria-label="Undo (Ctrl+Z)" title="Undo (Ctrl+Z)" data-testid="undo" disabled={!canUndo} onClick={() => dispatch({ kind: 'undo' })}>
              ↶ Undo
            </button>
            <button
              type="button"
              className="btn"
              aria-label="Redo (Ctrl+Shift+Z)"
              title="Redo (Ctrl+Shift+Z)"
              data-testid="redo"
              disabled={!canRedo}
              onClick={() => dispatch({ kind: 'redo' })}
            >
              ↷ Redo
            </button>
            <button
              type="button"
              className="btn"
              data-testid="auto-layout"
              onClick={() => {
                dispatch({ kind: 'layout' });
                setTimeout(() => void rf.fitView({ padding: 0.2, maxZoom: 1, duration: 200 }), 50);
              }}
            >
              Auto-layout
            </button>
            <button type="button" className="btn" data-testid="validate" onClick={() => void doValidate()}>
              Validate
            </button>
            <button
              type="button"
              className="btn"
              data-testid="export"
              onClick={() => downloadJson(`${slug(name)}.schema.json`, { name, description, definition })}
            >
              Export
            </button>
            <button type="button" className="btn" data-testid="webhook" onClick={() => setShowHook(true)}>
              Webhook
            </button>
            {status !== 'active' && (
              <button type="button" className="btn" data-testid="activate" onClick={() => void doAction('activate')}>
                Activate
              </button>
            )}
            {status !== 'archived' && (
              <button type="button" className="btn" data-testid="archive" onClick={() => void doAction('archive')}>
                Archive
              </button>
            )}
            <button type="button" className="btn" data-testid="run-now" disabled={status === 'archived'} onClick={() => void openRun()}>
              ▶ Run now
            </button>
            <button type="button" className="btn btn-primary" data-testid="save" disabled={save.isPending} onClick={() => void doSave()}>
              {save.isPending ? 'Saving…' : 'Save'}
            </button>
          </div>
        </div>
        {(failure || notice || generalErrors.length > 0) && (
          <div className="editor-messages">
            {notice && (
              <div className="banner banner-ok" role="status" data-testid="notice">
                {notice}
              </div>
            )}
            <ErrorBanner error={failure} testId="save-error" />
            {generalErrors.length > 0 && <ErrorList errors={generalErrors} testId="general-errors" />}
          </div>
        )}
        <div className="editor-body">
          <Palette specs={specList} onAdd={addAtCenter} />
          <FlowCanvas
            nodes={state.nodes}
            edges={state.edges}
            specs={specs}
            edgeErrors={placed.byEdge}
            onNodesChange={(changes) => dispatch({ kind: 'nodesChange', changes })}
            onEdgesChange={(changes) => dispatch({ kind: 'edgesChange', changes })}
            onConnect={(c) => dispatch({ kind: 'connect', source: c.source, sourceHandle: c.sourceHandle ?? null, target: c.target, specs })}
            onDropType={(spec, position) => dispatch({ kind: 'addNode', spec, position })}
            onDragStart={() => dispatch({ kind: 'checkpoint' })}
            isValidConnection={isValidConnection}
          />
          {selectedNode ? (
            <NodePanel
              key={selectedNode.id}
              node={selectedNode}
              spec={specs.get(selectedNode.data.type)}
              exprVars={expressionVariables(definition, selectedNode.id)}
              fieldErrors={placed.byField.get(selectedNode.id)}
              nodeMessages={(placed.byNode.get(selectedNode.id) ?? []).map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))}
              onPatch={(patch, coalesce) => dispatch({ kind: 'updateNode', id: selectedNode.id, patch, specs, coalesce })}
              onRename={(newId) => dispatch({ kind: 'renameNodeId', id: selectedNode.id, newId })}
              onDelete={() => dispatch({ kind: 'deleteSelected' })}
              onClose={() => dispatch({ kind: 'select', id: null })}
            />
          ) : (
            <aside className="side-panel" aria-label="Schema settings" data-testid="schema-panel">
              <h2>Schema settings</h2>
              <div className="field">
                <label htmlFor="schema-description">Description</label>
                <textarea
                  id="schema-description"
                  rows={3}
                  value={description}
                  data-testid="schema-description"
                  onChange={(e) => setDescription(e.target.value)}
                />
              </div>
              <JsonText
                id="schema-variables"
                label="Variables (JSON object, available as vars.<name>)"
                value={state.variables}
                rows={8}
                testId="schema-variables"
                onChange={(v) => {
                  if (v && typeof v === 'object' && !Array.isArray(v)) dispatch({ kind: 'setVariables', variables: v as JsonObject, coalesce: 'variables' });
                }}
              />
              <p className="help">
                Drag nodes from the palette (or focus one and press Enter), connect an output port to an input, select a node to
                configure it. Delete removes the selection; Ctrl+Z / Ctrl+Shift+Z undo and redo; Ctrl+S saves.
              </p>
              <p className="muted small">
                {state.nodes.length} nodes · {state.edges.length} edges
              </p>
            </aside>
          )}
        </div>
      </div>

      {blocker.state === 'blocked' && (
        <Dialog
          title="Unsaved changes"
          onClose={() => blocker.reset()}
          testId="unsaved-dialog"
          footer={
            <>
              <button type="button" className="btn" onClick={() => blocker.reset()}>
                Stay
              </button>
              <button type="button" className="btn btn-danger" data-testid="discard-changes" onClick={() => blocker.proceed()}>
                Discard and leave
              </button>
              <button
                type="button"
                className="btn btn-primary"
                onClick={async () => {
                  if (await doSave()) blocker.proceed();
                  else blocker.reset();
                }}
              >
                Save and leave
              </button>
            </>
          }
        >
          <p>This schema has changes that are not saved.</p>
        </Dialog>
      )}
      {showRun && <RunDialog schemaId={schema.id} onClose={() => setShowRun(false)} onStarted={(exId) => void navigate(`/executions/${exId}`)} />}
      {showHook && <WebhookDialog schema={current} onClose={() => setShowHook(false)} onRotated={setCurrent} />}
    </EditorContext.Provider>
  );
}

function RunDialog({ schemaId, onClose, onStarted }: { schemaId: string; onClose: () => void; onStarted: (id: string) => void }) {
  const [text, setText] = useState('{\n  \n}');
  const [err, setErr] = useState<string | null>(null);
  const exec = useExecuteSchema();
  const run = async () => {
    const [payload, parseErr] = parseJson(text);
    if (parseErr || payload === undefined) return setErr(parseErr);
    setErr(null);
    try {
      const ex = await exec.mutateAsync({ id: schemaId, payload });
      onStarted(ex.id);
    } catch {
      /* shown below */
    }
  };
  return (
    <Dialog
      title="Run now"
      onClose={onClose}
      testId="run-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" data-testid="run-submit" disabled={exec.isPending} onClick={() => void run()}>
            {exec.isPending ? 'Starting…' : 'Run'}
          </button>
        </>
      }
    >
      <div className="field">
        <label htmlFor="run-payload">Trigger payload (JSON, available as trigger)</label>
        <textarea
          id="run-payload"
          className="mono"
          rows={10}
          spellCheck={false}
          value={text}
          data-testid="run-payload"
          onChange={(e) => setText(e.target.value)}
        />
        {err && (
          <p className="field-error" role="alert">
            {err}
          </p>
        )}
      </div>
      <ErrorBanner error={exec.error} />
    </Dialog>
  );
}

function WebhookDialog({ schema, onClose, onRotated }: { schema: Schema; onClose: () => void; onRotated: (s: Schema) => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const action = useSchemaAction();
  const timer = useRef<number | undefined>(undefined);
  const copy = async (what: string, text: string) => {
    const ok = await copyText(text);
    setCopied(ok ? what : `${what}-failed`);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setCopied(null), 2000);
  };
  const curl = `curl -X POST '${schema.webhook_url}' \\\n  -H 'Content-Type: application/json' \\\n  -H 'X-Schema-Secret: ${schema.webhook_secret}' \\\n  -d '{"hello": "world"}'`;
  return (
    <Dialog title="Webhook" onClose={onClose} testId="webhook-dialog" wide>
      {schema.status !== 'active' && (
        <p className="banner banner-warn">The webhook answers only while the schema is active (now: {schema.status}).</p>
      )}
      <div className="field">
        <label htmlFor="hook-url">URL</label>
        <div className="copy-row">
          <input id="hook-url" readOnly className="mono" value={schema.webhook_url} data-testid="webhook-url" />
          <button type="button" className="btn" data-testid="copy-webhook-url" onClick={() => void copy('url', schema.webhook_url)}>
            {copied === 'url' ? 'Copied ✓' : 'Copy'}
          </button>
        </div>
      </div>
      <div className="field">
        <label htmlFor="hook-secret">Secret (send as X-Schema-Secret, or sign with HMAC)</label>
        <div className="copy-row">
          <input id="hook-secret" readOnly className="mono" value={schema.webhook_secret} data-testid="webhook-secret" />
          <button type="button" className="btn" data-testid="copy-webhook-secret" onClick={() => void copy('secret', schema.webhook_secret)}>
            {copied === 'secret' ? 'Copied ✓' : 'Copy'}
          </button>
          <button
            type="button"
            className="btn"
            disabled={action.isPending}
            onClick={async () => {
              if (!window.confirm('Rotate the secret? Callers using the old one will be refused.')) return;
              onRotated(await action.mutateAsync({ id: schema.id, action: 'rotate-secret' }));
            }}
          >
            Rotate
          </button>
        </div>
        {copied?.endsWith('-failed') && <p className="field-error">Copy failed — select the text and copy it by hand.</p>}
      </div>
      <div className="field">
        <label htmlFor="hook-curl">Example</label>
        <textarea id="hook-curl" readOnly className="mono" rows={4} value={curl} />
      </div>
      <ErrorBanner error={action.error} />
    </Dialog>
  );
}
