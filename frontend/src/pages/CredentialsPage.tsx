/**
 * Credentials: the user's API tokens, passwords and OAuth2 clients, kept encrypted by the server.
 * Create and edit them (secret fields are write-only: they show “••••” with the masked hint, are
 * never filled in and are sent only when typed), test one against a URL, see which schemas use it,
 * delete it (a credential in use needs a second, explicit confirmation).
 */
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { ApiError } from '../api/client';
import {
  useCredentials,
  useCredentialTypes,
  useDeleteCredential,
  useSaveCredential,
  useTestCredential,
  type Credential,
  type CredentialKind,
  type CredentialTypeSpec,
} from '../api/credentials';
import { Dialog } from '../components/Dialog';
import { ErrorBanner, ErrorList } from '../components/ErrorList';
import { Field } from '../components/Field';
import { formatDate } from '../lib/format';

function errorsAt(error: unknown, path: string): string[] | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const found = error.errors.filter((e) => e.path === path).map((e) => e.message);
  return found.length ? found : undefined;
}

function CredentialForm({
  credential,
  types,
  onDone,
}: {
  credential: Credential | null;
  types: CredentialTypeSpec[];
  onDone: () => void;
}) {
  const save = useSaveCredential();
  const [name, setName] = useState(credential?.name ?? '');
  const [type, setType] = useState<CredentialKind>(credential?.type ?? 'bearer_token');
  const [values, setValues] = useState<Record<string, string>>({ ...(credential?.fields ?? {}) });
  const spec = types.find((t) => t.type === type);
  const editing = credential !== null;

  const submit = async () => {
    const data: Record<string, string> = {};
    for (const f of spec?.fields ?? []) {
      const v = values[f.name] ?? '';
      // Secret fields are sent only when typed: left empty on edit, the stored value stays.
      if (f.secret ? v !== '' : v !== '' || (editing && f.name in (credential?.fields ?? {}))) data[f.name] = v;
    }
    await save.mutateAsync({ id: credential?.id, body: editing ? { name, data } : { name, type, data } });
    onDone();
  };

  const formErrors = save.error instanceof ApiError ? save.error.errors.filter((e) => !['name', 'type'].includes(e.path ?? '') && !(e.path ?? '').startsWith('data.')) : [];
  return (
    <Dialog
      title={editing ? `Edit credential “${credential.name}”` : 'New credential'}
      onClose={onDone}
      testId="credential-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onDone}>
            Cancel
          </button>
          <button type="submit" form="credential-form" className="btn btn-primary" disabled={save.isPending} data-testid="save-credential">
            {editing ? 'Save' : 'Create'}
          </button>
        </>
      }
    >
      <form
        id="credential-form"
        autoComplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit().catch(() => undefined);
        }}
      >
        {save.error && !(save.error instanceof ApiError && save.error.errors.length) && <ErrorBanner error={save.error} />}
        {formErrors.length > 0 && <ErrorList errors={formErrors} />}
        <Field id="credential-name" label="Name *" errors={errorsAt(save.error, 'name')} errorTestId="credential-name-error" help="Nodes refer to the credential by this name.">
          {(control) => <input {...control} type="text" value={name} data-testid="credential-name" onChange={(e) => setName(e.target.value)} />}
        </Field>
        <Field id="credential-type" label="Type" errors={errorsAt(save.error, 'type')} help={spec?.description}>
          {(control) => (
            <select {...control} value={type} disabled={editing} data-testid="credential-type" onChange={(e) => setType(e.target.value as CredentialKind)}>
              {types.map((t) => (
                <option key={t.type} value={t.type}>
                  {t.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        {(spec?.fields ?? []).map((f) => {
          const id = `credential-field-${f.name}`;
          const isSet = editing && f.secret && credential.type === type;
          return (
            <Field
              key={`${type}:${f.name}`}
              id={id}
              label={`${f.label}${f.required && !isSet ? ' *' : ''}`}
              errors={errorsAt(save.error, `data.${f.name}`)}
              errorTestId={`credential-error-${f.name}`}
              help={
                f.secret
                  ? isSet
                    ? `Stored (${credential.hint || '••••'}); it is never shown again. Type a new value to replace it, or leave it empty to keep it.`
                    : 'Write-only: stored encrypted, never shown again.'
                  : f.description || undefined
              }
            >
              {(control) => (
                <input
                  {...control}
                  type={f.secret ? 'password' : 'text'}
                  autoComplete={f.secret ? 'new-password' : 'off'}
                  placeholder={isSet ? '••••••••' : undefined}
                  value={values[f.name] ?? ''}
                  data-testid={id}
                  onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                />
              )}
            </Field>
          );
        })}
      </form>
    </Dialog>
  );
}

function TestDialog({ credential, onDone }: { credential: Credential; onDone: () => void }) {
  const test = useTestCredential();
  const [url, setUrl] = useState('https://');
  const result = test.data;
  return (
    <Dialog
      title={`Test “${credential.name}”`}
      onClose={onDone}
      testId="credential-test-dialog"
      footer={
        <>
          <button type="button" className="btn" onClick={onDone}>
            Close
          </button>
          <button type="submit" form="credential-test-form" className="btn btn-primary" disabled={test.isPending} data-testid="run-credential-test">
            {test.isPending ? 'Calling…' : 'Call'}
          </button>
        </>
      }
    >
      <form
        id="credential-test-form"
        onSubmit={(e) => {
          e.preventDefault();
          test.mutate({ id: credential.id, url });
        }}
      >
        <Field
          id="credential-test-url"
          label="URL"
          errors={errorsAt(test.error, 'url')}
          help="The server calls this URL with the credential (GET), through the same outbound rules as a schema: private addresses are refused unless allowed. The answer's body is not shown."
        >
          {(control) => <input {...control} type="url" className="mono" value={url} data-testid="credential-test-url" onChange={(e) => setUrl(e.target.value)} />}
        </Field>
      </form>
      {test.error && !errorsAt(test.error, 'url') && <ErrorBanner error={test.error} />}
      {result && (
        <p className={result.ok ? 'banner banner-ok' : 'banner banner-error'} role="status" data-testid="credential-test-result">
          {result.ok ? `It works: HTTP ${result.status}.` : result.error}
        </p>
      )}
    </Dialog>
  );
}

export function CredentialsPage() {
  const credentials = useCredentials();
  const types = useCredentialTypes();
  const remove = useDeleteCredential();
  const [editing, setEditing] = useState<Credential | null | 'new'>(null);
  const [testing, setTesting] = useState<Credential | null>(null);
  const labelOf = (type: string) => types.data?.find((t) => t.type === type)?.label ?? type;

  const doDelete = async (c: Credential) => {
    const uses = c.used_by.length ? ` It is used by ${c.used_by.map((s) => `“${s.name}”`).join(', ')}: their HTTP steps will fail.` : '';
    if (!window.confirm(`Delete the credential “${c.name}”?${uses}`)) return;
    try {
      await remove.mutateAsync({ id: c.id, force: c.used_by.length > 0 });
    } catch {
      // shown by the banner
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Credentials</h1>
        <div className="toolbar">
          <button type="button" className="btn btn-primary" data-testid="new-credential" disabled={!types.data} onClick={() => setEditing('new')}>
            + New credential
          </button>
        </div>
      </div>
      <p className="muted">
        API tokens, passwords and OAuth2 clients for your schemas' HTTP requests. They are stored encrypted, used by the
        worker at the moment of a call, and never shown again — not here, not in steps or logs.
      </p>
      <ErrorBanner error={credentials.error ?? remove.error} />
      {credentials.isPending ? (
        <p role="status">Loading…</p>
      ) : (
        <table className="table" data-testid="credential-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Secret</th>
              <th scope="col">Used by</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(credentials.data ?? []).map((c) => (
              <tr key={c.id} data-testid={`credential-row-${c.name}`}>
                <td>
                  <span className="strong">{c.name}</span>
                  {Object.keys(c.fields).length > 0 && (
                    <div className="muted small mono">
                      {Object.entries(c.fields)
                        .map(([k, v]) => `${k}: ${v}`)
                        .join(' · ')}
                    </div>
                  )}
                </td>
                <td>{labelOf(c.type)}</td>
                <td className="mono" data-testid={`credential-hint-${c.name}`}>
                  {c.hint || '••••'}
                </td>
                <td>
                  {c.used_by.length === 0 ? (
                    <span className="muted">–</span>
                  ) : (
                    c.used_by.map((s, i) => (
                      <span key={s.id}>
                        {i > 0 && ', '}
                        <Link to={`/schemas/${s.id}`}>{s.name}</Link>
                      </span>
                    ))
                  )}
                </td>
                <td>{c.last_used_at ? formatDate(c.last_used_at) : <span className="muted">never</span>}</td>
                <td className="row-actions">
                  <button type="button" className="btn btn-small" aria-label={`Edit ${c.name}`} onClick={() => setEditing(c)}>
                    Edit
                  </button>
                  <button type="button" className="btn btn-small" aria-label={`Test ${c.name}`} data-testid={`test-credential-${c.name}`} onClick={() => setTesting(c)}>
                    Test
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger"
                    aria-label={`Delete ${c.name}`}
                    data-testid={`delete-credential-${c.name}`}
                    onClick={() => void doDelete(c)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {credentials.data?.length === 0 && (
              <tr>
                <td colSpan={6} className="empty">
                  No credentials yet — create one, then pick it in an HTTP request's “Auth”.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {editing !== null && types.data && (
        <CredentialForm credential={editing === 'new' ? null : editing} types={types.data} onDone={() => setEditing(null)} />
      )}
      {testing && <TestDialog credential={testing} onDone={() => setTesting(null)} />}
    </div>
  );
}
