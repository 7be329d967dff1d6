/**
 * Variables: values a user's schemas read as `{{ env.NAME }}` (base URLs, account ids), so they are
 * not copied into every schema. The user's own variables, and the global ones staff share (a
 * user's own variable of the same name wins). Not for secrets: those go on the Credentials page.
 */
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { ApiError } from '../api/client';
import { useMe } from '../api/hooks';
import { useDeleteVariable, useSaveVariable, useVariables, type Variable } from '../api/variables';
import { Dialog } from '../components/Dialog';
import { ErrorBanner, ErrorList } from '../components/ErrorList';
import { Field } from '../components/Field';
import { formatDate } from '../lib/format';

function errorsAt(error: unknown, path: string): string[] | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const found = error.errors.filter((e) => e.path === path).map((e) => e.message);
  return found.length ? found : undefined;
}

function VariableForm({ variable, staff, onDone }: { variable: Variable | null; staff: boolean; onDone: () => void }) {
  const save = useSaveVariable();
  const [name, setName] = useState(variable?.name ?? '');
  const [value, setValue] = useState(variable?.value ?? '');
  const [description, setDescription] = useState(variable?.description ?? '');
  const [shared, setShared] = useState(false);
  const editing = variable !== null;

  const submit = async () => {
    await save.mutateAsync({
      id: variable?.id,
      body: editing ? { name, value, description } : { name, value, description, is_global: shared },
    });
    onDone();
  };
  const other = save.error instanceof ApiError ? save.error.errors.filter((e) => !['name', 'value', 'description'].includes(e.path ?? '')) : [];
  return (
    <Dialog
      title={editing ? `Edit variable “${variable.name}”` : 'New variable'}
      onClose={onDone}
      testId="variable-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onDone}>
            Cancel
          </button>
          <button type="submit" form="variable-form" className="btn btn-primary" disabled={save.isPending} data-testid="save-variable">
            {editing ? 'Save' : 'Create'}
          </button>
        </>
      }
    >
      <form
        id="variable-form"
        autoComplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit().catch(() => undefined);
        }}
      >
        {save.error && !(save.error instanceof ApiError && save.error.errors.length) && <ErrorBanner error={save.error} />}
        {other.length > 0 && <ErrorList errors={other} />}
        <Field
          id="variable-name"
          label="Name *"
          errors={errorsAt(save.error, 'name')}
          errorTestId="variable-name-error"
          help={`Expressions read it as {{ env.${name || 'NAME'} }}. A letter or _, then letters, digits or _.`}
        >
          {(control) => <input {...control} type="text" className="mono" value={name} data-testid="variable-name" onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field id="variable-value" label="Value" errors={errorsAt(save.error, 'value')} help="Text, not secret: it is shown to you and recorded in steps that use it.">
          {(control) => <input {...control} type="text" className="mono" value={value} data-testid="variable-value" onChange={(e) => setValue(e.target.value)} />}
        </Field>
        <Field id="variable-description" label="Description" errors={errorsAt(save.error, 'description')}>
          {(control) => <input {...control} type="text" value={description} data-testid="variable-description" onChange={(e) => setDescription(e.target.value)} />}
        </Field>
        {staff && !editing && (
          <Field id="variable-global" label="Global: shared by every user (a user's own variable of the same name wins)" check>
            {(control) => <input {...control} type="checkbox" checked={shared} data-testid="variable-global" onChange={(e) => setShared(e.target.checked)} />}
          </Field>
        )}
      </form>
    </Dialog>
  );
}

export function VariablesPage() {
  const me = useMe();
  const variables = useVariables();
  const remove = useDeleteVariable();
  const [editing, setEditing] = useState<Variable | null | 'new'>(null);
  const staff = Boolean(me.data?.is_staff);
  const mayChange = (v: Variable) => staff || !v.is_global;

  const doDelete = async (v: Variable) => {
    if (!window.confirm(`Delete the variable “${v.name}”? Expressions reading {{ env.${v.name} }} will fail.`)) return;
    try {
      await remove.mutateAsync(v.id);
    } catch {
      // shown by the banner
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Variables</h1>
        <div className="toolbar">
          <button type="button" className="btn btn-primary" data-testid="new-variable" onClick={() => setEditing('new')}>
            + New variable
          </button>
        </div>
      </div>
      <p className="muted">
        Values every schema of yours reads as <code>{'{{ env.NAME }}'}</code>: base URLs, account ids. Not for secrets — keep
        those on the <Link to="/credentials">Credentials</Link> page.
      </p>
      <ErrorBanner error={variables.error ?? remove.error} />
      {variables.isPending ? (
        <p role="status">Loading…</p>
      ) : (
        <table className="table" data-testid="variable-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Value</th>
              <th scope="col">Scope</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(variables.data ?? []).map((v) => (
              <tr key={v.id} data-testid={`variable-row-${v.name}`}>
                <td>
                  <span className="strong mono">env.{v.name}</span>
                  {v.description && <div className="muted small">{v.description}</div>}
                </td>
                <td className="mono" data-testid={`variable-value-${v.name}`}>
                  {v.value}
                </td>
                <td>{v.is_global ? 'Global' : staff && v.owner !== me.data?.email ? v.owner : 'Yours'}</td>
                <td data-testid={`variable-updated-${v.name}`}>
                  {formatDate(v.updated_at)}
                  <div className="muted small">
                    by {v.updated_by ?? 'someone deleted'} · version {v.version}
                  </div>
                </td>
                <td className="row-actions">
                  {mayChange(v) ? (
                    <>
                      <button type="button" className="btn btn-small" aria-label={`Edit ${v.name}`} data-testid={`edit-variable-${v.name}`} onClick={() => setEditing(v)}>
                        Edit
                      </button>
                      <button
                        type="button"
                        className="btn btn-small btn-danger"
                        aria-label={`Delete ${v.name}`}
                        data-testid={`delete-variable-${v.name}`}
                        onClick={() => void doDelete(v)}
                      >
                        Delete
                      </button>
                    </>
                  ) : (
                    <span className="muted small">staff only</span>
                  )}
                </td>
              </tr>
            ))}
            {variables.data?.length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  No variables yet — create one, then write {'{{ env.NAME }}'} in any expression field.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {editing !== null && <VariableForm variable={editing === 'new' ? null : editing} staff={staff} onDone={() => setEditing(null)} />}
    </div>
  );
}
