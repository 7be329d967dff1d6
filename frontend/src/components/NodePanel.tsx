/** Side panel for the selected node: name, id, generated config form, retry policy, on_error. */
import { useEffect, useState } from 'react';
import type { JsonObject, JsonValue, NodeTypeSpec, OnError, RetryPolicy } from '../api/types';
import { setIn, parsePath } from '../lib/jsonSchema';
import type { CanvasNode, SchemaNodeData } from '../lib/mapping';
import { Field, FieldErrors, fieldDomId } from './Field';
import { hintKey, ObjectFields, type FormContext } from './SchemaForm';

const DEFAULT_RETRY: RetryPolicy = { max_attempts: 3, backoff: 'exponential', base_seconds: 1, max_seconds: 60, jitter: true };

export function NodePanel({
  node,
  spec,
  exprVars,
  fieldErrors,
  nodeMessages,
  onPatch,
  onRename,
  onDelete,
  onClose,
}: {
  node: CanvasNode;
  spec: NodeTypeSpec | undefined;
  exprVars: string[];
  fieldErrors: Map<string, string[]> | undefined;
  nodeMessages: string[];
  onPatch: (patch: Partial<SchemaNodeData>, coalesce?: string) => void;
  onRename: (newId: string) => void;
  onDelete: () => void;
  onClose: () => void;
}) {
  const d = node.data;
  const [idText, setIdText] = useState(node.id);
  useEffect(() => setIdText(node.id), [node.id]);
  const [hintFor, setHintFor] = useState<string | null>(null);

  const edit = (path: string, value: JsonValue) => {
    const parts = parsePath(path);
    const [root, ...rest] = parts;
    if (root === 'config') onPatch({ config: setIn(d.config, rest, value) as JsonObject }, `${node.id}:${path}`);
    else if (root === 'retry') onPatch({ retry: setIn((d.retry ?? {}) as JsonObject, rest, value) as RetryPolicy }, `${node.id}:${path}`);
  };
  const ctx: FormContext = { errors: fieldErrors, exprVars, hintFor, onEdit: edit };
  const errorsAt = (path: string) => fieldErrors?.get(path);
  const retry = d.retry;

  return (
    <aside
      className="side-panel"
      aria-label={`Node ${d.name || spec?.label || d.type}`}
      data-testid="node-panel"
      onFocus={(e) => {
        const key = hintKey(e.target);
        if (key) setHintFor(key);
      }}
    >
      <header className="side-head">
        <div>
          <h2>{d.name || spec?.label || d.type}</h2>
          <p className="muted">
            {spec?.label ?? `Unknown type ${d.type}`}
            {spec?.side_effects ? ' · side effects' : ''}
          </p>
        </div>
        <button type="button" className="icon-btn" aria-label="Close node panel" onClick={onClose}>
          ×
        </button>
      </header>
      {spec?.description && <p className="help">{spec.description}</p>}
      {nodeMessages.length > 0 && (
        <ul className="error-list" data-testid="node-panel-errors">
          {nodeMessages.map((m, i) => (
            <li key={i}>{m}</li>
          ))}
        </ul>
      )}
      <Field id="node-name" label="Name" errors={errorsAt('name')}>
        {(control) => (
          <input
            {...control}
            type="text"
            value={d.name}
            data-testid="node-name"
            onChange={(e) => onPatch({ name: e.target.value }, `${node.id}:name`)}
          />
        )}
      </Field>
      <Field id="node-id" label={<>ID (used in expressions as nodes.{node.id}.output)</>}>
        {(control) => (
          <input
            {...control}
            type="text"
            className="mono"
            value={idText}
            data-testid="node-id"
            pattern="[A-Za-z_][A-Za-z0-9_]*"
            onChange={(e) => setIdText(e.target.value)}
            onBlur={() => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(idText) && idText !== node.id ? onRename(idText) : setIdText(node.id))}
          />
        )}
      </Field>

      <section className="panel-section" aria-label="Configuration">
        <h3>Configuration</h3>
        {spec && Object.keys(spec.config_schema.properties ?? {}).length > 0 ? (
          <ObjectFields schema={spec.config_schema} value={d.config} path="config" ctx={ctx} />
        ) : (
          <p className="muted">No settings.</p>
        )}
        <FieldErrors messages={errorsAt('config')} />
      </section>

      {!spec?.is_trigger && (
        <section className="panel-section" aria-label="Error handling">
          <h3>Error handling</h3>
          <Field id="node-on-error" label="On error" errors={errorsAt('on_error')}>
            {(control) => (
              <select
                {...control}
                data-testid="node-on-error"
                value={d.on_error ?? 'fail'}
                onChange={(e) => onPatch({ on_error: e.target.value as OnError })}
              >
                <option value="fail">Fail the execution</option>
                <option value="error">Follow the error port</option>
              </select>
            )}
          </Field>
          <Field id="node-retry" label="Retry on failure" check>
            {(control) => (
              <input
                {...control}
                type="checkbox"
                checked={!!retry}
                data-testid="node-retry"
                onChange={(e) => onPatch({ retry: e.target.checked ? DEFAULT_RETRY : undefined })}
              />
            )}
          </Field>
          {retry && (
            <div className="grid-2">
              <NumberField label="Max attempts" path="retry.max_attempts" value={retry.max_attempts} min={1} integer ctx={ctx} />
              <Field id="retry-backoff" label="Backoff" errors={errorsAt('retry.backoff')}>
                {(control) => (
                  <select {...control} value={retry.backoff ?? 'exponential'} onChange={(e) => edit('retry.backoff', e.target.value)}>
                    <option value="fixed">fixed</option>
                    <option value="exponential">exponential</option>
                  </select>
                )}
              </Field>
              <NumberField label="Base (s)" path="retry.base_seconds" value={retry.base_seconds} min={0} ctx={ctx} />
              <NumberField label="Max (s)" path="retry.max_seconds" value={retry.max_seconds} min={0} ctx={ctx} />
              <Field id="retry-jitter" label="Jitter" check>
                {(control) => <input {...control} type="checkbox" checked={!!retry.jitter} onChange={(e) => edit('retry.jitter', e.target.checked)} />}
              </Field>
            </div>
          )}
          <FieldErrors messages={errorsAt('retry')} />
        </section>
      )}
      <button type="button" className="btn btn-danger" data-testid="delete-node" onClick={onDelete}>
        Delete node
      </button>
    </aside>
  );
}

function NumberField({
  label,
  path,
  value,
  min,
  integer,
  ctx,
}: {
  label: string;
  path: string;
  value: number | undefined;
  min?: number;
  integer?: boolean;
  ctx: FormContext;
}) {
  return (
    <Field id={fieldDomId(path)} label={label} errors={ctx.errors?.get(path)}>
      {(control) => (
        <input
          {...control}
          type="number"
          min={min}
          step={integer ? 1 : 'any'}
          value={value ?? ''}
          onChange={(e) => {
            const n = integer ? parseInt(e.target.value, 10) : parseFloat(e.target.value);
            if (!Number.isNaN(n)) ctx.onEdit(path, n);
          }}
        />
      )}
    </Field>
  );
}
