/**
 * The canvas node for every registry type: coloured by group, icon + name + type, one input
 * handle (not on triggers) and one labelled output handle per port, API errors and run status.
 */
import { memo } from 'react';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { hasInput, outputPorts } from '../lib/graph';
import { INPUT_HANDLE, type CanvasNode } from '../lib/mapping';
import { GROUP_ICON, useEditorContext } from './EditorContext';

export const SCHEMA_NODE_KIND = 'schema';

function SchemaNodeView({ id, data, selected }: NodeProps<CanvasNode>) {
  const { specs, errorsByNode, statusByNode } = useEditorContext();
  const spec = specs.get(data.type);
  const group = spec?.group ?? 'unknown';
  const ports = outputPorts(data, spec);
  const errors = errorsByNode.get(id) ?? [];
  const status = statusByNode.get(id);
  const cls = ['flow-node', `group-${group}`, selected && 'selected', errors.length && 'has-error', status && `status-${status}`]
    .filter(Boolean)
    .join(' ');
  const rows = Math.max(ports.length, 1);
  return (
    <div className={cls} data-testid={`node-${id}`} data-status={status ?? ''} style={{ minHeight: 40 + rows * 22 }}>
      {hasInput(spec) && (
        <Handle type="target" position={Position.Left} id={INPUT_HANDLE} data-testid={`handle-${id}-in`} aria-label={`${id} input`} />
      )}
      <div className="flow-node-head">
        <span className="flow-node-icon" aria-hidden="true">
          {GROUP_ICON[group] ?? '?'}
        </span>
        <div className="flow-node-titles">
          <div className="flow-node-name">{data.name || spec?.label || data.type}</div>
          <div className="flow-node-type">
            {spec?.label ?? data.type} · <span className="mono">{id}</span>
          </div>
        </div>
        {status && <span className={`badge badge-${status}`}>{status}</span>}
      </div>
      {ports.map((port, i) => (
        <div key={port} className={`port-label port-${port}`} style={{ top: `${((i + 1) / (ports.length + 1)) * 100}%` }}>
          {port}
          <Handle
            type="source"
            position={Position.Right}
            id={port}
            data-testid={`handle-${id}-${port}`}
            aria-label={`${id} output ${port}`}
            className={`handle-${port}`}
          />
        </div>
      ))}
      {errors.length > 0 && (
        <ul className="flow-node-errors" data-testid={`node-errors-${id}`}>
          {errors.map((e, i) => (
            <li key={i}>{e.path ? `${e.path}: ${e.message}` : e.message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export const SchemaNode = memo(SchemaNodeView);
