/** The React Flow canvas shared by the editor (editable) and the execution view (read-only). */
import { memo, useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import {
  Background,
  ControlButton,
  Controls,
  MarkerType,
  MiniMap,
  ReactFlow,
  applyNodeChanges,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type IsValidConnection,
  type NodeChange,
} from '@xyflow/react';
import type { ApiFieldError, NodeTypeSpec } from '../api/types';
import { DEFAULT_PORT } from '../lib/graph';
import { NOTE_KIND, type AnyCanvasNode, type CanvasEdge, type CanvasNode } from '../lib/mapping';
import { edgeAriaLabel, shownName } from '../lib/nodeNames';
import { useReadableFit } from '../hooks/useReadableFit';
import { nodeTypes } from '../nodes';
import { DND_MIME } from './Palette';

const GROUP_COLOR: Record<string, string> = { trigger: '#b45309', logic: '#6d28d9', action: '#0369a1', flow: '#047857' };

export interface FlowCanvasProps {
  /** Schema nodes, and sticky notes in the editor. */
  nodes: AnyCanvasNode[];
  edges: CanvasEdge[];
  specs: Map<string, NodeTypeSpec>;
  readOnly?: boolean;
  edgeErrors?: Map<string, ApiFieldError[]>;
  onNodesChange?: (c: NodeChange<AnyCanvasNode>[]) => void;
  onEdgesChange?: (c: EdgeChange<CanvasEdge>[]) => void;
  onConnect?: (c: Connection) => void;
  onDropType?: (spec: NodeTypeSpec, position: { x: number; y: number }) => void;
  onDragStart?: () => void;
  onNodeClick?: (id: string) => void;
  onPaneClick?: () => void;
  isValidConnection?: IsValidConnection;
}

/** Memoised: the editor page re-renders on every commit; the canvas only when its props change. */
export const FlowCanvas = memo(function FlowCanvas(p: FlowCanvasProps) {
  const rf = useReactFlow();
  const fit = useReadableFit();
  // Fit once to the graph we open with, at a readable zoom, once React Flow has measured it; an
  // empty editor canvas keeps zoom 1 so the first drops do not re-zoom the view. A graph that
  // arrives later (execution view) is fitted when it arrives.
  // Read-only views have no store: keep React Flow's measurements locally (the minimap needs them).
  const [localNodes, setLocalNodes] = useState(p.nodes);
  useEffect(() => setLocalNodes(p.nodes), [p.nodes]);
  const onLocalNodesChange = useCallback((c: NodeChange<AnyCanvasNode>[]) => setLocalNodes((n) => applyNodeChanges(c, n)), []);
  const [fitOnOpen] = useState(() => p.nodes.length > 0 || !!p.readOnly);
  const fitted = useRef(false);
  const measured = useNodesInitialized();
  const count = p.nodes.length;
  useEffect(() => {
    if (fitted.current || !fitOnOpen || count === 0 || !measured) return;
    fitted.current = true;
    fit();
  }, [count, measured, fitOnOpen, fit]);
  // Names by id for the edges' labels, rebuilt only when a name changes (not on every drag frame).
  const namesKey = JSON.stringify(p.nodes.flatMap((n) => (n.type === NOTE_KIND ? [] : [[n.id, shownName((n as CanvasNode).data, p.specs.get((n as CanvasNode).data.type))]])));
  const names = useMemo(() => new Map(JSON.parse(namesKey) as [string, string][]), [namesKey]);
  const edges = useMemo(
    () =>
      p.edges.map((e) => {
        const port = e.sourceHandle ?? DEFAULT_PORT;
        const bad = p.edgeErrors?.has(e.id);
        return {
          ...e,
          label: port === DEFAULT_PORT ? undefined : port,
          className: [bad && 'edge-error', port === 'error' && 'edge-port-error'].filter(Boolean).join(' ') || undefined,
          markerEnd: { type: MarkerType.ArrowClosed, width: 18, height: 18 },
          ariaLabel: edgeAriaLabel(names.get(e.source) ?? e.source, port, names.get(e.target) ?? e.target),
        };
      }),
    [p.edges, p.edgeErrors, names],
  );

  const onDragOver = useCallback((e: DragEvent) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
  }, []);
  const { onDropType, specs } = p;
  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const type = e.dataTransfer.getData(DND_MIME) || e.dataTransfer.getData('text/plain');
      const spec = specs.get(type);
      if (!spec || !onDropType) return;
      const pos = rf.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      onDropType(spec, { x: Math.round(pos.x - 110), y: Math.round(pos.y - 25) });
    },
    [rf, specs, onDropType],
  );

  return (
    <div className="canvas" data-testid="canvas" onDragOver={p.readOnly ? undefined : onDragOver} onDrop={p.readOnly ? undefined : onDrop}>
      <ReactFlow<AnyCanvasNode, CanvasEdge>
        nodes={p.onNodesChange ? p.nodes : localNodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={p.onNodesChange ?? onLocalNodesChange}
        onEdgesChange={p.onEdgesChange}
        onConnect={p.onConnect}
        onNodeDragStart={p.onDragStart}
        onNodeClick={(_, n) => p.onNodeClick?.(n.id)}
        onPaneClick={p.onPaneClick}
        isValidConnection={p.isValidConnection}
        nodesDraggable={!p.readOnly}
        nodesConnectable={!p.readOnly}
        edgesFocusable={!p.readOnly}
        deleteKeyCode={p.readOnly ? null : ['Backspace', 'Delete']}
        // Big schemas: draw only what is in view (panning a 200-node graph stays smooth).
        onlyRenderVisibleElements={p.nodes.length > 60}
        minZoom={0.2}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={20} size={1} />
        {/* React Flow's own "fit view" zooms a small graph up to 2× and a big one down below readable
            labels; ours fits at a readable zoom (lib/viewport.ts), as on opening and after Auto-layout. */}
        <Controls showInteractive={false} showFitView={false}>
          <ControlButton className="react-flow__controls-fitview" title="Fit view" aria-label="Fit view" onClick={() => fit(200)}>
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" aria-hidden="true">
              <path d="M1 5V1h4v1.5H2.5V5zM11 1h4v4h-1.5V2.5H11zM15 11v4h-4v-1.5h2.5V11zM5 15H1v-4h1.5v2.5H5z" />
            </svg>
          </ControlButton>
        </Controls>
        <MiniMap
          style={{ width: 150, height: 100 }}
          pannable
          zoomable
          ariaLabel="Mini map"
          nodeColor={(n) => (n.type === NOTE_KIND ? '#fde047' : (GROUP_COLOR[specs.get((n as CanvasNode).data.type)?.group ?? ''] ?? '#64748b'))}
        />
      </ReactFlow>
    </div>
  );
});
