/**
 * The canvas node for every registry type: coloured by group, icon + name + type, one input
 * handle (not on triggers) and one labelled output handle per port, API errors and run status.
 */
import { memo } from 'react';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import { hasInput, outputPorts } from '../lib/graph';
import { INPUT_HANDLE, type CanvasNode } from '../lib/mapping';
import { useNodeNames } from '../components/NodeNamesContext';
import { portTitle, shownName, withNodeNames } from '../lib/nodeNames';
import { PIN_KEY } from '../lib/pins';
import { GROUP_ICON, useEditorContext } from './EditorContext';

export const SCHEMA_NODE_KIND = 'schema';

/** The "+" beside an output port: opens the palette to add a node joined from that port. */
function AddAfter({ id, port, name, onAdd }: { id: string; port: string; name: string; onAdd: (id: string, port: string) => void }) {
  return (
    <button
      type="button"
      className="port-add nodrag nopan"
      data-testid={`add-after-${id}-${port}`}
      aria-label={`Add a node after ${name}${port === 'out' ? '' : ` (${port})`}`}
      title={`Add a node after ${name}${port === 'out' ? '' : ` (${port})`}`}
      onClick={(e) => {
        e.stopPropagation();
        onAdd(id, port);
      }}
    >
      +
    </button>
  );
}

function SchemaNodeView({ id, data, selected }: NodeProps<CanvasNode>) {
  const { specs, errorsByNode, statusByNode, readOnly, onAddAfter } = useEditorContext();
  const { nameOf } = useNodeNames();
  const spec = specs.get(data.type);
  const addable = !readOnly && onAddAfter;
  const label = shownName(data, spec);
  const group = spec?.group ?? 'unknown';
  const ports = outputPorts(data, spec);
  const errors = errorsByNode.get(id) ?? [];
  const status = statusByNode.get(id);
  const cls = ['flow-node', `group-${group}`, selected && 'selected', errors.length && 'has-error', status && `status-${status}`]
    .filter(Boolean)
    .join(' ');
  // A lone `out` port sits mid-height unlabelled (like n8n); several ports get one labelled row each.
  const single = ports.length === 1 && ports[0] === 'out';
  return (
    <div className={cls} data-testid={`node-${id}`} data-status={status ?? ''}>
      {hasInput(spec) && (
        <Handle
          type="target"
          position={Position.Left}
          id={INPUT_HANDLE}
          data-testid={`handle-${id}-in`}
          title={portTitle(label, null, !!spec?.accepts_many_inputs)}
          className={spec?.accepts_many_inputs ? 'handle-many-inputs' : undefined}
        />
      )}
      <div className="flow-node-head">
        <span className="flow-node-icon" aria-hidden="true">
          {GROUP_ICON[group] ?? '?'}
        </span>
        <div className="flow-node-titles">
          <div className="flow-node-name" title={label}>
            {label}
          </div>
          <div className="flow-node-type">
            {spec?.label ?? data.type} · <span className="mono">{id}</span>
          </div>
        </div>
        {data.extra?.[PIN_KEY] !== undefined && (
          <span className="flow-node-pin" data-testid={`pin-mark-${id}`} title="Pinned data: test runs use it instead of running this node (production runs never)">
            pinned
          </span>
        )}
      </div>
      {status && (
        <div className="flow-node-status">
          <span className={`badge badge-${status}`}>{status}</span>
        </div>
      )}
      {single ? (
        <>
          <Handle type="source" position={Position.Right} id="out" data-testid={`handle-${id}-out`} title={portTitle(label, 'out')} />
          {addable && <AddAfter id={id} port="out" name={label} onAdd={onAddAfter} />}
        </>
      ) : (
        ports.length > 0 && (
          <div className="flow-node-ports">
            {ports.map((port) => (
              <div key={port} className={`port-row port-${port}`}>
                <span className="port-name">{port}</span>
                <Handle
                  type="source"
                  position={Position.Right}
                  id={port}
                  data-testid={`handle-${id}-${port}`}
                  title={portTitle(label, port)}
                  className={`handle-${port}`}
                />
                {addable && <AddAfter id={id} port={port} name={label} onAdd={onAddAfter} />}
              </div>
            ))}
          </div>
        )
      )}
      {errors.length > 0 && (
        <ul className="flow-node-errors" data-testid={`node-errors-${id}`}>
          {errors.map((e, i) => (
            <li key={i}>{withNodeNames(e.message, nameOf)}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export const SchemaNode = memo(SchemaNodeView);
