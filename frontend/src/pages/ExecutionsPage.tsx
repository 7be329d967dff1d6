/**
 * Executions list: filters (schema, status, trigger, date range; search by payload/result field,
 * failed node, error text, duration), cursor pages, auto-refresh. Sub-schema runs (the children of
 * call_schema / for_each) are hidden unless asked for: a 1,000-item for_each would bury the runs
 * people started; a parent's page still links to its own (`?parent=`).
 * A whole row opens its execution: the id's link stretches over the row (one tab stop, Enter
 * opens it, middle-click opens a tab); the schema's own link stays on top of it.
 */
import { useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { useExecutions, useSchemas } from '../api/hooks';
import type { ExecutionSummary, Waiting } from '../api/types';
import { ErrorBanner } from '../components/ErrorList';
import { formatDate, formatDuration } from '../lib/format';
import { runTiming } from '../lib/runTiming';

const FILTERS = [
  'schema',
  'status',
  'trigger_type',
  'created_after',
  'created_before',
  'parent',
  'failed_node',
  'error',
  'min_duration',
  'max_duration',
] as const;

/** The toggle's URL parameter: `subruns=show` lists sub-schema runs too. */
export const SHOW_SUB_RUNS = 'subruns';

/** True when the list leaves sub-schema runs out (the API's `top_level=true`): unless the user asked
 * to see them, or asked for them by name (one run's children, the subflow trigger). */
export function hidesSubRuns(params: URLSearchParams): boolean {
  return params.get(SHOW_SUB_RUNS) !== 'show' && !params.get('parent') && params.get('trigger_type') !== 'subflow';
}

/** The list's first page in the API, from the page's address. */
export function listPath(params: URLSearchParams): string {
  const q = new URLSearchParams({ page_size: '50' });
  for (const f of FILTERS) {
    const v = params.get(f);
    if (!v) continue;
    q.set(f, f === 'created_after' ? dayToIso(v, false) : f === 'created_before' ? dayToIso(v, true) : v);
  }
  for (const [key, value] of params) {
    if (key.startsWith('payload__') || key.startsWith('result__')) q.set(key, value);
  }
  if (hidesSubRuns(params)) q.set('top_level', 'true');
  return `/executions/?${q.toString()}`;
}

/** "payload.customer.id = 42" (or result.…) → ["payload__customer__id", "42"]; null when it is not that shape. */
export function fieldFilter(text: string): [string, string] | null {
  const match = /^\s*(payload|result)((?:\.[A-Za-z0-9_-]+)+)\s*=\s*(.*?)\s*$/.exec(text);
  if (!match) return null;
  const [, root = '', path = '', value = ''] = match;
  return [`${root}${path.replaceAll('.', '__')}`, value];
}

/** Where an unfinished run waits, by the names users gave the nodes ("wait at Manager approval"). */
export function waitingText(waiting: readonly Pick<Waiting, 'kind' | 'node_id' | 'node_name'>[]): string {
  return waiting.map((w) => `${w.kind} at ${w.node_name || w.node_id || '?'}`).join(', ');
}

/** What a row says beside its status: where it waits, why it has not started (a concurrency slot,
 * its paused schema), or the first line of its error. */
export function rowNote(e: Pick<ExecutionSummary, 'waiting' | 'queued' | 'error'>): string {
  if (e.waiting?.length) return waitingText(e.waiting);
  if (e.queued) return e.queued;
  return e.error ? (e.error.split('\n')[0] ?? '') : '';
}

/** A run's time in the list: how long it ran (so far); "queued" (since its creation, in the title)
 * while accepted and not started — its wait is not run time. */
function durationCell(e: ExecutionSummary) {
  const timing = runTiming(e);
  if (timing.queuedSince) {
    return (
      <span className="muted" title={`Queued since ${formatDate(timing.queuedSince)}`}>
        queued
      </span>
    );
  }
  return formatDuration(timing.durationMs);
}

/** The field filter shown for the URL's payload__/result__ parameter (the first one). */
function fieldText(params: URLSearchParams): string {
  for (const [key, value] of params) {
    if (key.startsWith('payload__') || key.startsWith('result__')) return `${key.replaceAll('__', '.')} = ${value}`;
  }
  return '';
}

/** A text filter applied on Enter or when the field is left (not at every key). */
function CommitInput({ value, onCommit, ...rest }: { value: string; onCommit: (v: string) => void } & Omit<React.InputHTMLAttributes<HTMLInputElement>, 'value'>) {
  return (
    <input
      {...rest}
      key={value}
      defaultValue={value}
      onBlur={(e) => e.target.value !== value && onCommit(e.target.value.trim())}
      onKeyDown={(e) => e.key === 'Enter' && onCommit((e.target as HTMLInputElement).value.trim())}
    />
  );
}

/** A date input's local day → ISO instant (start of day for "after", end of day for "before"). */
function dayToIso(day: string, endOfDay: boolean): string {
  const d = new Date(`${day}T${endOfDay ? '23:59:59.999' : '00:00:00'}`);
  return d.toISOString();
}

export function ExecutionsPage() {
  const [params, setParams] = useSearchParams();
  const [cursorPath, setCursorPath] = useState<string | null>(null);
  const [autoRefresh, setAutoRefresh] = useState(true);
  const schemas = useSchemas('', '');

  const firstPage = useMemo(() => listPath(params), [params]);
  const subRunsAskedFor = !!params.get('parent') || params.get('trigger_type') === 'subflow';
  const path = cursorPath ?? firstPage;
  const list = useExecutions(path, autoRefresh);

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setCursorPath(null);
    setParams(next, { replace: true });
  };
  const [fieldError, setFieldError] = useState('');
  const setField = (text: string) => {
    const next = new URLSearchParams([...params].filter(([k]) => !k.startsWith('payload__') && !k.startsWith('result__')));
    const parsed = text ? fieldFilter(text) : null;
    setFieldError(text && !parsed ? 'Write payload.<field> = value or result.<field> = value.' : '');
    if (parsed) next.set(parsed[0], parsed[1]);
    setCursorPath(null);
    setParams(next, { replace: true });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Executions</h1>
        <div className="toolbar">
          <label className="check-inline">
            <input type="checkbox" checked={autoRefresh} data-testid="auto-refresh" onChange={(e) => setAutoRefresh(e.target.checked)} /> Auto-refresh
          </label>
          <button type="button" className="btn" onClick={() => void list.refetch()}>
            Refresh
          </button>
        </div>
      </div>
      <div className="filters" role="group" aria-label="Filters">
        <select aria-label="Schema" data-testid="filter-schema" value={params.get('schema') ?? ''} onChange={(e) => setFilter('schema', e.target.value)}>
          <option value="">All schemas</option>
          {(schemas.data ?? []).map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
        <select aria-label="Status" data-testid="filter-status" value={params.get('status') ?? ''} onChange={(e) => setFilter('status', e.target.value)}>
          <option value="">All statuses</option>
          {['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <select
          aria-label="Trigger"
          data-testid="filter-trigger"
          value={params.get('trigger_type') ?? ''}
          onChange={(e) => setFilter('trigger_type', e.target.value)}
        >
          <option value="">All triggers</option>
          <option value="manual">manual</option>
          <option value="webhook">webhook</option>
          <option value="scheduler">scheduler</option>
          <option value="subflow">subflow</option>
        </select>
        {params.get('parent') && (
          <span className="chip" data-testid="filter-parent">
            Sub-schema runs of <Link to={`/executions/${params.get('parent')}`}>{params.get('parent')?.slice(0, 8)}</Link>{' '}
            <button type="button" className="btn btn-small" aria-label="Show all runs" onClick={() => setFilter('parent', '')}>
              ×
            </button>
          </span>
        )}
        <label className="check-inline" title={subRunsAskedFor ? 'This list is of sub-schema runs' : 'Runs started by a call_schema or for_each node; each parent links to its own'}>
          <input
            type="checkbox"
            data-testid="hide-sub-runs"
            checked={hidesSubRuns(params)}
            disabled={subRunsAskedFor}
            onChange={(e) => setFilter(SHOW_SUB_RUNS, e.target.checked ? '' : 'show')}
          />{' '}
          Hide sub-schema runs
        </label>
        <label className="inline-label">
          From
          <input type="date" data-testid="filter-after" value={params.get('created_after') ?? ''} onChange={(e) => setFilter('created_after', e.target.value)} />
        </label>
        <label className="inline-label">
          To
          <input type="date" data-testid="filter-before" value={params.get('created_before') ?? ''} onChange={(e) => setFilter('created_before', e.target.value)} />
        </label>
      </div>
      <div className="filters" role="group" aria-label="Search">
        <CommitInput
          aria-label="Payload or result field"
          data-testid="filter-field"
          placeholder="payload.customer = 42"
          value={fieldText(params)}
          onCommit={setField}
        />
        <CommitInput aria-label="Failed node" data-testid="filter-failed-node" placeholder="failed node id" value={params.get('failed_node') ?? ''} onCommit={(v) => setFilter('failed_node', v)} />
        <CommitInput aria-label="Error text" data-testid="filter-error" placeholder="error contains" value={params.get('error') ?? ''} onCommit={(v) => setFilter('error', v)} />
        <label className="inline-label">
          Took ≥ s
          <CommitInput type="number" min={0} data-testid="filter-min-duration" value={params.get('min_duration') ?? ''} onCommit={(v) => setFilter('min_duration', v)} />
        </label>
        <label className="inline-label">
          ≤ s
          <CommitInput type="number" min={0} data-testid="filter-max-duration" value={params.get('max_duration') ?? ''} onCommit={(v) => setFilter('max_duration', v)} />
        </label>
        {fieldError && (
          <span className="error-text" role="alert">
            {fieldError}
          </span>
        )}
      </div>
      <ErrorBanner error={list.error} />
      <table className="table table-row-links" data-testid="executions-table">
        <thead>
          <tr>
            <th scope="col">Execution</th>
            <th scope="col">Schema</th>
            <th scope="col">Status</th>
            <th scope="col">Trigger</th>
            <th scope="col">Created</th>
            <th scope="col">Duration</th>
            <th scope="col">Waiting / error</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.results ?? []).map((e) => (
            <tr key={e.id} data-testid={`execution-row-${e.id}`}>
              <td>
                <Link to={`/executions/${e.id}`} className="mono row-link" data-testid={`execution-link-${e.id}`}>
                  {e.id.slice(0, 8)}
                </Link>
              </td>
              <td>
                <Link to={`/schemas/${e.schema}`}>{e.schema_name}</Link> <span className="muted small">v{e.schema_version}</span>
              </td>
              <td>
                <span className={`badge badge-${e.status}`}>{e.status}</span>
                {e.priority !== 5 && <span className="muted small" data-testid={`execution-priority-${e.id}`}> priority {e.priority}</span>}
              </td>
              <td>{e.trigger_type}</td>
              <td>{formatDate(e.created_at)}</td>
              <td data-testid={`execution-duration-${e.id}`}>{durationCell(e)}</td>
              <td className="truncate">{rowNote(e)}</td>
            </tr>
          ))}
          {list.data && list.data.results.length === 0 && (
            <tr>
              <td colSpan={7} className="empty" data-testid="executions-empty">
                No executions.
                {hidesSubRuns(params) && (
                  <>
                    {' '}
                    Sub-schema runs are hidden:{' '}
                    <button type="button" className="btn btn-small" onClick={() => setFilter(SHOW_SUB_RUNS, 'show')}>
                      Show them
                    </button>
                  </>
                )}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" className="btn" data-testid="page-prev" disabled={!list.data?.previous} onClick={() => setCursorPath(list.data!.previous!)}>
          ← Newer
        </button>
        {cursorPath && (
          <button type="button" className="btn" onClick={() => setCursorPath(null)}>
            First page
          </button>
        )}
        <button type="button" className="btn" data-testid="page-next" disabled={!list.data?.next} onClick={() => setCursorPath(list.data!.next!)}>
          Older →
        </button>
      </div>
    </div>
  );
}
