/**
 * Schemas: search, status filter, create (a name is required), import (a name already taken gets
 * “(imported)”, and the editor says so; so it does for credentials the schema names that the user
 * does not have), duplicate, archive, delete.
 */
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { ApiError, get, itemsOf } from '../api/client';
import { useCreateSchema, useDeleteSchema, useNodeTypes, useSchemaAction, useSchemas } from '../api/hooks';
import type { Credential } from '../api/credentials';
import type { Definition, NodeTypeSpec, Page, SchemaSummary } from '../api/types';
import { Dialog } from '../components/Dialog';
import { ErrorBanner, ErrorList } from '../components/ErrorList';
import { Field } from '../components/Field';
import { formatDate } from '../lib/format';
import { credentialReferences, missingCredentials as missingOf } from '../lib/credentialRefs';
import { defaultConfig } from '../lib/jsonSchema';
import { unusedName } from '../lib/names';

/** Names of the user's schemas that contain `name` (the API's search is a case-insensitive substring). */
async function schemaNamesLike(name: string): Promise<string[]> {
  const q = new URLSearchParams({ search: name.slice(0, 255), page_size: '200' });
  return itemsOf(await get<SchemaSummary[] | Page<SchemaSummary>>(`/schemas/?${q.toString()}`)).map((s) => s.name);
}

/** Credentials the definition names (auth, and `credentials.<name>` in headers and query) that the user has none of. */
async function missingCredentials(definition: Definition): Promise<string[]> {
  if (!credentialReferences(definition).length) return [];
  return missingOf(definition, itemsOf(await get<Credential[] | Page<Credential>>('/credentials/?page_size=200')));
}

/** A stored definition must be valid, so a new schema starts with its trigger node. */
export function starterDefinition(trigger: NodeTypeSpec | undefined): Definition {
  const type = trigger?.type ?? 'manual_trigger';
  return {
    nodes: [{ id: 'trigger', type, name: trigger?.label ?? 'Manual trigger', config: defaultConfig(trigger?.config_schema), position: { x: 0, y: 0 } }],
    edges: [],
    variables: {},
  };
}

export function SchemaListPage() {
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setSearch(searchText.trim()), 250);
    return () => clearTimeout(t);
  }, [searchText]);
  const schemas = useSchemas(search, status);
  const create = useCreateSchema();
  const action = useSchemaAction();
  const remove = useDeleteSchema();
  const navigate = useNavigate();
  const [creating, setCreating] = useState(false);
  const [newName, setNewName] = useState('');
  const [newNameError, setNewNameError] = useState<string | null>(null);
  const newNameRef = useRef<HTMLInputElement>(null);
  const [newTrigger, setNewTrigger] = useState('manual_trigger');
  const types = useNodeTypes();
  const triggers = (types.data ?? []).filter((t) => t.is_trigger);
  const [importErr, setImportErr] = useState<{ message: string; errors: ApiError['errors'] } | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  const closeCreate = () => {
    setCreating(false);
    setNewNameError(null);
  };

  const doCreate = async () => {
    if (!newName.trim()) {
      setNewNameError('Give the schema a name.');
      newNameRef.current?.focus();
      return;
    }
    const s = await create.mutateAsync({
      name: newName.trim(),
      description: '',
      definition: starterDefinition(triggers.find((t) => t.type === newTrigger)),
    });
    closeCreate();
    setNewName('');
    void navigate(`/schemas/${s.id}`);
  };

  const doImport = async (file: File) => {
    setImportErr(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await file.text());
    } catch (e) {
      setImportErr({ message: `${file.name} is not JSON: ${(e as Error).message}`, errors: [] });
      return;
    }
    const body = parsed as { name?: unknown; description?: unknown; definition?: unknown };
    if (!body || typeof body !== 'object' || !body.definition || typeof body.definition !== 'object') {
      setImportErr({ message: `${file.name} has no "definition" object (expected {name, description, definition}).`, errors: [] });
      return;
    }
    const wanted = typeof body.name === 'string' && body.name.trim() ? body.name.trim() : file.name.replace(/\.json$/i, '');
    try {
      const name = unusedName(wanted, await schemaNamesLike(wanted));
      const s = await create.mutateAsync({
        name,
        description: typeof body.description === 'string' ? body.description : '',
        definition: body.definition as Definition,
      });
      const missing = await missingCredentials(body.definition as Definition);
      const notices = [
        name === wanted ? '' : `Imported as “${name}”: a schema named “${wanted}” already exists.`,
        missing.length
          ? `It uses credentials you do not have: ${missing.map((m) => `“${m}”`).join(', ')}. Create them with these names on the Credentials page (or pick others) before running it.`
          : '',
      ].filter(Boolean);
      const notice = notices.length ? notices.join(' ') : null;
      void navigate(`/schemas/${s.id}`, { state: { notice } });
    } catch (e) {
      setImportErr({ message: (e as Error).message, errors: e instanceof ApiError ? e.errors : [] });
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Schemas</h1>
        <div className="toolbar">
          <input
            type="file"
            accept="application/json,.json"
            ref={fileRef}
            hidden
            data-testid="import-file"
            aria-label="Import schema file"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void doImport(f);
              e.target.value = '';
            }}
          />
          <button type="button" className="btn" data-testid="import-schema" onClick={() => fileRef.current?.click()}>
            Import JSON
          </button>
          <button type="button" className="btn btn-primary" data-testid="new-schema" onClick={() => setCreating(true)}>
            + New schema
          </button>
        </div>
      </div>
      <div className="filters">
        <input
          type="search"
          placeholder="Search by name or description"
          aria-label="Search schemas"
          data-testid="schema-search"
          value={searchText}
          onChange={(e) => setSearchText(e.target.value)}
        />
        <select aria-label="Filter by status" data-testid="schema-status-filter" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All statuses</option>
          <option value="draft">Draft</option>
          <option value="active">Active</option>
          <option value="archived">Archived</option>
        </select>
      </div>
      {importErr && (
        <div className="banner banner-error" role="alert" data-testid="import-errors">
          <strong>Import failed: {importErr.message}</strong>
          <ErrorList errors={importErr.errors} />
          <button type="button" className="btn btn-small" onClick={() => setImportErr(null)}>
            Dismiss
          </button>
        </div>
      )}
      <ErrorBanner error={schemas.error ?? action.error ?? remove.error} />
      {schemas.isPending ? (
        <p role="status">Loading…</p>
      ) : (
        <table className="table" data-testid="schema-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Version</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(schemas.data ?? []).map((s) => (
              <tr key={s.id} data-testid={`schema-row-${s.id}`} data-name={s.name}>
                <td>
                  <Link to={`/schemas/${s.id}`} className="strong">
                    {s.name}
                  </Link>
                  {s.description && <div className="muted small">{s.description}</div>}
                </td>
                <td>
                  <span className={`badge badge-${s.status}`}>{s.status}</span>
                </td>
                <td>v{s.version}</td>
                <td>{formatDate(s.updated_at)}</td>
                <td className="row-actions">
                  <Link className="btn btn-small" to={`/executions?schema=${s.id}`} aria-label={`Runs of ${s.name}`}>
                    Runs
                  </Link>
                  <button
                    type="button"
                    className="btn btn-small"
                    aria-label={`Duplicate ${s.name}`}
                    onClick={() => action.mutate({ id: s.id, action: 'duplicate' })}
                  >
                    Duplicate
                  </button>
                  {s.status !== 'archived' && (
                    <button
                      type="button"
                      className="btn btn-small"
                      aria-label={`Archive ${s.name}`}
                      onClick={() => action.mutate({ id: s.id, action: 'archive' })}
                    >
                      Archive
                    </button>
                  )}
                  <button
                    type="button"
                    className="btn btn-small btn-danger"
                    aria-label={`Delete ${s.name}`}
                    data-testid={`delete-schema-${s.id}`}
                    onClick={() => {
                      if (window.confirm(`Delete “${s.name}”? Its executions go with it.`)) remove.mutate(s.id);
                    }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {schemas.data?.length === 0 && (
              <tr>
                <td colSpan={5} className="empty">
                  No schemas{search || status ? ' match these filters' : ' yet — create one'}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      {creating && (
        <Dialog
          title="New schema"
          onClose={closeCreate}
          testId="new-schema-dialog"
          footer={
            <>
              <button type="button" className="btn" onClick={closeCreate}>
                Cancel
              </button>
              <button type="submit" form="new-schema-form" className="btn btn-primary" disabled={create.isPending} data-testid="create-schema">
                Create
              </button>
            </>
          }
        >
          <form
            id="new-schema-form"
            onSubmit={(e) => {
              e.preventDefault();
              void doCreate().catch(() => undefined);
            }}
          >
            <Field id="new-schema-name" label="Name *" errors={newNameError ? [newNameError] : undefined} errorTestId="new-schema-name-error">
              {(control) => (
                <input
                  {...control}
                  ref={newNameRef}
                  aria-required
                  data-autofocus
                  value={newName}
                  data-testid="new-schema-name"
                  onChange={(e) => {
                    setNewName(e.target.value);
                    if (e.target.value.trim()) setNewNameError(null);
                  }}
                />
              )}
            </Field>
            <Field id="new-schema-trigger" label="Starts with">
              {(control) => (
                <select {...control} value={newTrigger} data-testid="new-schema-trigger" onChange={(e) => setNewTrigger(e.target.value)}>
                  {triggers.map((t) => (
                    <option key={t.type} value={t.type}>
                      {t.label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <ErrorBanner error={create.error} />
          </form>
        </Dialog>
      )}
    </div>
  );
}
