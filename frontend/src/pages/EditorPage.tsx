/**
 * The schema editor page: loads the schema and the node types, then composes the toolbar,
 * palette, canvas, side panel and dialogs around the editor store. What the buttons do lives in
 * `useEditorCommands`, the shortcuts in `useEditorShortcuts`, the leave guard in
 * `useUnsavedChangesGuard`.
 */
import { useCallback, useMemo, useRef, useState } from 'react';
import { useLocation, useNavigate, useParams } from 'react-router-dom';
import { ReactFlowProvider, type Connection, type EdgeChange, type NodeChange } from '@xyflow/react';
import { useNodeTypes, useSchema } from '../api/hooks';
import type { NodeTypeSpec, Schema } from '../api/types';
import { CollapsiblePanel } from '../components/editor/CollapsiblePanel';
import { EditorMessages } from '../components/editor/EditorMessages';
import { EditorToolbar } from '../components/editor/EditorToolbar';
import { RunDialog } from '../components/editor/RunDialog';
import { SchemaSettingsPanel } from '../components/editor/SchemaSettingsPanel';
import { UnsavedChangesDialog } from '../components/editor/UnsavedChangesDialog';
import { VersionHistoryDialog } from '../components/editor/VersionHistoryDialog';
import { WebhookDialog } from '../components/editor/WebhookDialog';
import { RunDataDock } from '../components/data/RunDataDock';
import { ExpressionContext } from '../components/expression/ExpressionContext';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorList';
import { FlowCanvas } from '../components/FlowCanvas';
import { NodePanel } from '../components/NodePanel';
import { Palette } from '../components/Palette';
import { useEditorCommands } from '../hooks/useEditorCommands';
import { useCanvasClipboard } from '../hooks/useCanvasClipboard';
import { useEditorShortcuts } from '../hooks/useEditorShortcuts';
import { useNodeExpressionScope } from '../hooks/useNodeExpressionScope';
import { useRunData } from '../hooks/useRunData';
import { useSchemaDraft } from '../hooks/useSchemaDraft';
import { useUnsavedChangesGuard } from '../hooks/useUnsavedChangesGuard';
import { canConnect, DEFAULT_PORT, expressionVariables } from '../lib/graph';
import { fromCanvasEdge, type AnyCanvasNode, type CanvasEdge } from '../lib/mapping';
import { nodeNames, withNodeNames } from '../lib/nodeNames';
import { NodeNamesContext } from '../components/NodeNamesContext';
import { pinnedTrigger, withPin } from '../lib/pins';
import { walkStatusByNode } from '../lib/walk';
import { useRunToHere } from '../hooks/useRunToHere';
import { useStablePins } from '../hooks/useStablePins';
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

function Editor({ schema, specList }: { schema: Schema; specList: NodeTypeSpec[] }) {
  const specs = useMemo(() => new Map(specList.map((s) => [s.type, s])), [specList]);
  const [state, dispatch] = useEditorStore(schema.definition);
  const draft = useSchemaDraft(schema, state);
  // A notice handed over by the page that sent us here (an import renamed to a free name).
  const { state: arrival } = useLocation() as { state: { notice?: string | null } | null };
  const commands = useEditorCommands({ schema, specs, draft, state, dispatch, initialNotice: arrival?.notice ?? null });
  const blocker = useUnsavedChangesGuard(draft.dirty);
  useEditorShortcuts(commands);
  useCanvasClipboard(state, dispatch);
  const [dialog, setDialog] = useState<'run' | 'webhook' | 'history' | null>(null);
  // The "+" of an output port: the palette opens to add a node joined from that port.
  const [addAfter, setAddAfter] = useState<{ source: string; port: string } | null>(null);
  const navigate = useNavigate();
  const { errors, current } = commands;

  const selected = state.nodes.filter((n) => n.selected);
  const selectedNode = selected.length === 1 ? selected[0] : undefined;
  const run = useRunData(schema.id);
  const walk = useRunToHere(schema.id);
  const pinned = pinnedTrigger(state.nodes, (type) => !!specs.get(type)?.is_trigger);
  const pins = useStablePins(state.nodes);
  const expressionScope = useNodeExpressionScope(
    schema.id,
    draft.definition,
    selectedNode?.id,
    run,
    pinned,
    schema.created_by,
    pins,
    walk.walk,
  );
  const walkStatus = useMemo(() => (walk.walk ? walkStatusByNode(walk.walk) : null), [walk.walk]);

  // Notes first: drawn under the nodes they annotate.
  const canvasNodes = useMemo(() => [...state.notes, ...state.nodes], [state.notes, state.nodes]);

  // The canvas's handlers keep their identity (they read the latest graph from a ref), so a
  // re-render of the page that changes nothing on the canvas does not re-render React Flow.
  const graph = useRef(state);
  graph.current = state;
  const isValidConnection = useCallback(
    (c: Connection | { source: string; target: string; sourceHandle?: string | null }) => {
      const target = graph.current.nodes.find((n) => n.id === c.target);
      return canConnect(c.source, c.sourceHandle ?? DEFAULT_PORT, c.target, graph.current.edges.map(fromCanvasEdge), specs.get(target?.data.type ?? ''));
    },
    [specs],
  );
  const canvasHandlers = useMemo(
    () => ({
      onNodesChange: (changes: NodeChange<AnyCanvasNode>[]) => dispatch({ kind: 'nodesChange', changes }),
      onEdgesChange: (changes: EdgeChange<CanvasEdge>[]) => dispatch({ kind: 'edgesChange', changes }),
      onConnect: (c: Connection) => dispatch({ kind: 'connect', source: c.source, sourceHandle: c.sourceHandle ?? null, target: c.target, specs }),
      onDropType: (spec: NodeTypeSpec, position: { x: number; y: number }) => dispatch({ kind: 'addNode', spec, position }),
      onDragStart: () => dispatch({ kind: 'checkpoint' }),
    }),
    [dispatch, specs],
  );

  const ctx: EditorContextValue = useMemo(
    () => ({
      specs,
      errorsByNode: errors.byNode,
      // A "Run to here" test run colours the canvas until it is closed.
      statusByNode: walkStatus ?? run.statusByNode,
      readOnly: false,
      onAddAfter: (source: string, port: string) => setAddAfter({ source, port }),
      onNoteText: (id: string, text: string) => dispatch({ kind: 'updateNote', id, text }),
      onNoteResizeStart: () => dispatch({ kind: 'checkpoint' }),
    }),
    [specs, errors.byNode, run.statusByNode, walkStatus, dispatch],
  );

  // Messages name nodes by id; users read the names they gave (ids only in expressions and the Id field).
  // Keyed on names and connections only: typing in a field must not re-render every node.
  const namesKey = JSON.stringify([
    state.nodes.map((n) => [n.id, n.data.name]),
    state.edges.map((e) => [e.id, e.source, e.sourceHandle, e.target]),
  ]);
  const names = useMemo(() => {
    const [nodes, edges] = JSON.parse(namesKey) as [[string, string][], [string, string, string | null, string][]];
    return nodeNames({
      nodes: nodes.map(([id, name]) => ({ id, type: '', name })),
      edges: edges.map(([id, source, port, target]) => ({ id, source, target, source_port: port ?? undefined })),
    });
  }, [namesKey]);

  return (
    <EditorContext.Provider value={ctx}>
      <NodeNamesContext.Provider value={names}>
        <div className="editor" data-testid="editor">
          <EditorToolbar
            name={draft.name}
            onNameChange={draft.setName}
            status={current.status}
            version={current.version}
            dirty={draft.dirty}
            canUndo={state.history.past.length > 0}
            canRedo={state.history.future.length > 0}
            commands={commands}
            onWebhook={() => setDialog('webhook')}
            onHistory={() => setDialog('history')}
            onRun={() => void commands.prepareRun().then((ready) => ready && setDialog('run'))}
          />
          <EditorMessages notice={commands.notice} failure={commands.failure} generalErrors={commands.generalErrors} />
          <div className="editor-body">
            <CollapsiblePanel side="left" name="node palette" storageKey="schema.editor.paletteCollapsed" testId="palette-slot">
              <Palette specs={specList} onAdd={commands.addFromPalette} onAddNote={commands.addNote} />
            </CollapsiblePanel>
            <div className="canvas-column">
              <FlowCanvas
                nodes={canvasNodes}
                edges={state.edges}
                specs={specs}
                edgeErrors={errors.byEdge}
                {...canvasHandlers}
                isValidConnection={isValidConnection}
              />
              <RunDataDock
                run={run}
                schemaId={schema.id}
                definition={draft.definition}
                pinned={pinned}
                pins={pins}
                walk={walk}
                specs={specs}
                onPin={(id, value) => {
                  const pinNode = state.nodes.find((n) => n.id === id);
                  if (pinNode) dispatch({ kind: 'updateNode', id, patch: { extra: withPin(pinNode.data, value) }, specs });
                }}
                node={selectedNode && { id: selectedNode.id, name: selectedNode.data.name || selectedNode.id, spec: specs.get(selectedNode.data.type) }}
              />
            </div>
            <CollapsiblePanel side="right" name="details" storageKey="schema.editor.detailsCollapsed" testId="details-slot">
              {selectedNode ? (
                <ExpressionContext.Provider value={expressionScope}>
                  <NodePanel
                    key={selectedNode.id}
                    node={selectedNode}
                    spec={specs.get(selectedNode.data.type)}
                    exprVars={expressionVariables(draft.definition, selectedNode.id)}
                    fieldErrors={errors.byField.get(selectedNode.id)}
                    nodeMessages={(errors.byNode.get(selectedNode.id) ?? []).map((e) => withNodeNames(e.message, names.nameOf))}
                    onPatch={(patch, coalesce) => dispatch({ kind: 'updateNode', id: selectedNode.id, patch, specs, coalesce })}
                    onRename={(newId) => dispatch({ kind: 'renameNodeId', id: selectedNode.id, newId })}
                    onDelete={() => dispatch({ kind: 'deleteSelected' })}
                    onClose={() => dispatch({ kind: 'select', id: null })}
                  />
                </ExpressionContext.Provider>
              ) : (
                <SchemaSettingsPanel
                  description={draft.description}
                  onDescriptionChange={draft.setDescription}
                  variables={state.variables}
                  onVariablesChange={(variables) => dispatch({ kind: 'setVariables', variables, coalesce: 'variables' })}
                  nodeCount={state.nodes.length}
                  edgeCount={state.edges.length}
                  schemaId={schema.id}
                  settings={draft.settings}
                  onSettingsChange={draft.setSettings}
                />
              )}
            </CollapsiblePanel>
          </div>
        </div>

        {blocker.state === 'blocked' && <UnsavedChangesDialog onStay={() => blocker.reset()} onLeave={() => blocker.proceed()} save={commands.save} />}
        {dialog === 'run' && <RunDialog schemaId={schema.id} onClose={() => setDialog(null)} onStarted={(exId) => void navigate(`/executions/${exId}`)} />}
        {addAfter && (
          <Dialog
            title={`Add a node after ${names.nameOf(addAfter.source)}${addAfter.port === DEFAULT_PORT ? '' : ` (${addAfter.port})`}`}
            onClose={() => setAddAfter(null)}
            testId="add-after-dialog"
          >
            <Palette
              specs={specList.filter((s) => !s.is_trigger)}
              onAdd={(spec) => {
                commands.addAfter(spec, addAfter.source, addAfter.port);
                setAddAfter(null);
              }}
            />
          </Dialog>
        )}
        {dialog === 'history' && (
          <VersionHistoryDialog
            schema={current}
            dirty={draft.dirty}
            onClose={() => setDialog(null)}
            onRestored={(restored, from) => {
              dispatch({ kind: 'load', definition: restored.definition });
              draft.reset(restored);
              commands.adoptRestored(restored, from);
              setDialog(null);
            }}
          />
        )}
        {dialog === 'webhook' && <WebhookDialog schema={current} onClose={() => setDialog(null)} onRotated={commands.setCurrent} />}
      </NodeNamesContext.Provider>
    </EditorContext.Provider>
  );
}
