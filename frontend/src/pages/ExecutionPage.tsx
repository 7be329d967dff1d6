/**
 * One execution, live: polls the execution and its steps every second until it finishes,
 * colours the pinned definition's nodes by step status, shows the step timeline with
 * input/output/error (nodes by the names users gave them), what a paused run waits for, where a
 * cancelled one stopped, and Cancel / Resume / Retry / Re-run.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { ReactFlowProvider } from '@xyflow/react';
import { useExecution, useExecutionAction, useExecutionSteps, useNodeTypes, useSchema, useSchemaVersions } from '../api/hooks';
import { FINISHED_STATUSES, type Definition, type Execution, type ExecutionStep, type JsonValue } from '../api/types';
import { ErrorBanner } from '../components/ErrorList';
import { Field } from '../components/Field';
import { FlowCanvas } from '../components/FlowCanvas';
import { parseJson } from '../components/JsonText';
import { durationBetween, formatDate, formatDuration } from '../lib/format';
import { toCanvas } from '../lib/mapping';
import { nodeNames, withNodeNames } from '../lib/nodeNames';
import { EditorContext } from '../nodes/EditorContext';
import { statusByNode, stoppedAt } from '../lib/runStatus';
import { runTiming } from '../lib/runTiming';

function Json({ value, testId }: { value: JsonValue | undefined; testId?: string }) {
  return (
    <pre className="json" tabIndex={0} data-testid={testId}>
      {value === undefined ? '—' : JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function ExecutionPage() {
  const { id } = useParams<{ id: string }>();
  const ex = useExecution(id);
  const live = !ex.data || !FINISHED_STATUSES.includes(ex.data.status);
  const steps = useExecutionSteps(id, live);
  // Steps poll only while the run is live: fetch once more on every status change (the last
  // poll may have seen the execution finish before its final steps were read).
  const statusNow = ex.data?.status;
  const refetchSteps = steps.refetch;
  useEffect(() => {
    if (statusNow) void refetchSteps();
  }, [statusNow, refetchSteps]);
  const types = useNodeTypes();
  const versions = useSchemaVersions(ex.data?.schema);
  const schema = useSchema(ex.data?.schema);
  const act = useExecutionAction();
  const navigate = useNavigate();
  const [focusNode, setFocusNode] = useState<string | null>(null);

  const definition: Definition | undefined = useMemo(() => {
    const pinned = versions.data?.find((v) => v.version === ex.data?.schema_version)?.definition;
    return pinned ?? schema.data?.definition;
  }, [versions.data, schema.data, ex.data?.schema_version]);
  const canvas = useMemo(() => {
    const { nodes, edges, notes } = toCanvas(definition ?? { nodes: [], edges: [] });
    // The sticky notes of the version that ran, read-only, under the nodes.
    return { nodes: [...notes, ...nodes], edges };
  }, [definition]);
  const specs = useMemo(() => new Map((types.data ?? []).map((s) => [s.type, s])), [types.data]);
  const stepList = steps.data ?? [];
  const ctx = useMemo(
    () => ({ specs, errorsByNode: new Map(), statusByNode: statusByNode(ex.data, stepList), readOnly: true }),
    [specs, ex.data, stepList],
  );

  const { nameOf } = useMemo(() => nodeNames(definition), [definition]);
  const stoppedNode = ex.data?.status === 'cancelled' ? stoppedAt(ex.data, stepList) : null;
  if (ex.error) return <div className="page"><ErrorBanner error={ex.error} /></div>;
  if (!ex.data) return <div className="page-loading" role="status">Loading execution…</div>;
  const e = ex.data;
  const finished = FINISHED_STATUSES.includes(e.status);

  return (
    <EditorContext.Provider value={ctx}>
      <div className="execution" data-testid="execution-view" data-status={e.status}>
        <div className="editor-bar">
          <h1 className="exec-title">
            <Link to={`/schemas/${e.schema}`}>{e.schema_name}</Link> <span className="muted small">v{e.schema_version}</span>
          </h1>
          <span className={`badge badge-${e.status}`} data-testid="execution-status">
            {e.status}
          </span>
          {live && <span className="live-dot" aria-label="Live: refreshing every second">● live</span>}
          {e.parent_execution && (
            <Link className="small" to={`/executions/${e.parent_execution}`} data-testid="parent-link" title={`The execution whose node started this one (node id ${e.parent_node_id})`}>
              ↑ started by {e.parent_node_name || e.parent_node_id}
            </Link>
          )}
          <span className="muted small">
            {e.trigger_type}
            {e.priority !== 5 && ` · priority ${e.priority}`} · <RunTime execution={e} />
          </span>
          <div className="toolbar">
            {!finished && (
              <button type="button" className="btn btn-danger" data-testid="cancel-execution" disabled={act.isPending} onClick={() => act.mutate({ id: e.id, action: 'cancel' })}>
                Cancel
              </button>
            )}
            {e.status === 'failed' && (
              <button type="button" className="btn btn-primary" data-testid="retry-execution" disabled={act.isPending} onClick={() => act.mutate({ id: e.id, action: 'retry' }, { onSuccess: (r) => r?.id && r.id !== e.id && void navigate(`/executions/${r.id}`) })}>
                Retry from failed step
              </button>
            )}
            {finished && (
              <button type="button" className="btn" data-testid="rerun-execution" title="A new run with the same trigger payload, on the same version" disabled={act.isPending} onClick={() => act.mutate({ id: e.id, action: 'rerun' }, { onSuccess: (r) => r?.id && void navigate(`/executions/${r.id}`) })}>
                ↻ Re-run
              </button>
            )}
            {startedSubRuns(e, stepList) && (
              <Link className="btn" to={`/executions?parent=${e.id}`} data-testid="sub-runs-link" title="The runs its call_schema / for_each nodes started (the executions list hides them)">
                Sub-schema runs
              </Link>
            )}
            <Link className="btn" to={`/executions?schema=${e.schema}`}>
              All runs
            </Link>
          </div>
        </div>
        <ErrorBanner error={act.error} testId="execution-action-error" />
        <div className="execution-body">
          <ReactFlowProvider>
            <FlowCanvas nodes={canvas.nodes} edges={canvas.edges} specs={specs} readOnly onNodeClick={setFocusNode} onPaneClick={() => setFocusNode(null)} />
          </ReactFlowProvider>
          <aside className="timeline-panel" aria-label="Execution details">
            {!finished && e.waiting.length > 0 && (
              <section className="waiting" data-testid="waiting">
                <h2>
                  Waiting{e.waiting.length > 1 && <span className="muted small"> ({e.waiting.length} branches)</span>}
                </h2>
                {e.waiting.map((w) => (
                  <WaitingBranch
                    key={w.node_id ?? ''}
                    waiting={w}
                    executionId={e.id}
                    name={nameOf(w.node_id ?? '')}
                    instructions={definition?.nodes.find((n) => n.id === w.node_id)?.config?.instructions}
                    canResume={!finished}
                    several={e.waiting.filter((x) => x.kind === 'wait').length > 1}
                    busy={act.isPending}
                    onResume={(payload) => act.mutate({ id: e.id, action: 'resume', payload, nodeId: w.node_id ?? undefined })}
                  />
                ))}
              </section>
            )}
            {e.status === 'paused' && e.waiting.length === 0 && <p className="banner banner-warn">Paused.</p>}
            {!finished && e.queued && (
              <p className="banner banner-warn" data-testid="execution-queued">
                {e.queued.charAt(0).toUpperCase() + e.queued.slice(1)}.
              </p>
            )}
            {stoppedNode && (
              <p className="banner banner-warn" data-testid="stopped-at">
                Cancelled at <NodeName name={nameOf(stoppedNode)} id={stoppedNode} />: it and the nodes after it did not run.
              </p>
            )}
            {e.error && (
              <section>
                <h2>Error</h2>
                <p className="error-message" tabIndex={0} data-testid="execution-error">
                  {withNodeNames(e.error, nameOf)}
                </p>
              </section>
            )}
            <section>
              <h2>
                Steps <span className="muted small">({stepList.length})</span>
              </h2>
              <ol className="timeline" data-testid="timeline">
                {stepList.map((s) => (
                  <StepItem key={s.id} step={s} name={nameOf(s.node_id)} nameOf={nameOf} highlighted={focusNode === s.node_id} />
                ))}
                {stepList.length === 0 && <li className="muted">{live ? 'Waiting for the first step…' : 'No steps.'}</li>}
              </ol>
            </section>
            {e.result != null && (
              <section>
                <h2>Result</h2>
                <Json value={e.result} testId="execution-result" />
              </section>
            )}
            <details>
              <summary>Trigger payload</summary>
              <Json value={e.trigger_payload} />
            </details>
            <details>
              <summary>Context</summary>
              <Json value={e.context} />
            </details>
          </aside>
        </div>
      </div>
    </EditorContext.Provider>
  );
}

/** True when a call_schema / for_each node of this run started sub-schema runs (ran, or waits on them). */
export function startedSubRuns(e: Pick<Execution, 'waiting'>, steps: readonly Pick<ExecutionStep, 'node_type'>[]): boolean {
  return e.waiting.some((w) => w.kind === 'children') || steps.some((s) => s.node_type === 'call_schema' || s.node_type === 'for_each');
}

/** When it started and how long it has run; an accepted run not started yet says since when it is
 * queued (its wait is not run time), one cancelled before it started says so. */
function RunTime({ execution: e }: { execution: Execution }) {
  const timing = runTiming(e);
  let text: string;
  if (timing.queuedSince) text = `queued since ${formatDate(timing.queuedSince)}`;
  else if (!timing.startedAt) text = `never started (created ${formatDate(e.created_at)})`;
  else text = `started ${formatDate(timing.startedAt)} · ${formatDuration(timing.durationMs)}`;
  return (
    <span data-testid="execution-time" title={`Created ${formatDate(e.created_at)}`}>
      {text}
    </span>
  );
}

/** A node as users know it: the name they gave, the id (what expressions use) beside it. */
/** One paused branch: its node, why it waits, until when, and (for a `wait`) its own resume form. */
function WaitingBranch({
  waiting: w,
  executionId,
  name,
  instructions,
  canResume,
  several,
  busy,
  onResume,
}: {
  waiting: Execution['waiting'][number];
  executionId: string;
  name: string;
  instructions: unknown;
  canResume: boolean;
  several: boolean;
  busy: boolean;
  onResume: (payload: JsonValue) => void;
}) {
  const [resumeText, setResumeText] = useState('{\n  "approved": true\n}');
  const [resumeErr, setResumeErr] = useState<string | null>(null);
  const id = w.node_id ?? '';
  return (
    <div className="waiting-branch" data-testid="waiting-branch" data-node-id={id}>
      <p>
        <NodeName name={name} id={id} testId="waiting-node" />{' '}
        <span data-testid="waiting-kind" className="strong">
          {w.kind}
        </span>
        {w.kind === 'wait' && ': waits for a resume (with a payload) through the API'}
        {w.kind === 'delay' && ': delayed'}
        {w.kind === 'retry' && ': waits to retry'}
        {w.kind === 'children' && w.progress && (
          <span data-testid="waiting-progress">
            : {w.progress.total === 1 ? 'waits for its sub-schema run' : `${w.progress.finished.toLocaleString('en')} / ${w.progress.total.toLocaleString('en')}`}
            {w.progress.failed > 0 && `, ${w.progress.failed.toLocaleString('en')} failed`}
            {' · '}
            <Link to={`/executions?parent=${executionId}`} data-testid="children-link">
              sub-schema runs
            </Link>
          </span>
        )}
        {w.resume_at && (
          <>
            {' '}
            until <strong data-testid="waiting-resume-at">{formatDate(w.resume_at)}</strong>
          </>
        )}
        .
      </p>
      {typeof instructions === 'string' && instructions && (
        <p className="banner banner-warn" data-testid="waiting-instructions">
          {instructions}
        </p>
      )}
      {w.kind === 'wait' && canResume && (
        <form
          onSubmit={(ev) => {
            ev.preventDefault();
            const [payload, err] = parseJson(resumeText);
            setResumeErr(err);
            if (!err && payload !== undefined) onResume(payload);
          }}
        >
          <Field id={`resume-payload-${id}`} label={several ? `Resume payload for ${name} (JSON)` : 'Resume payload (JSON)'} errors={resumeErr ? [resumeErr] : undefined}>
            {(control) => (
              <textarea
                {...control}
                className="mono"
                rows={4}
                value={resumeText}
                data-testid="resume-payload"
                onChange={(ev) => setResumeText(ev.target.value)}
              />
            )}
          </Field>
          <button type="submit" className="btn btn-primary" data-testid="resume-execution" disabled={busy}>
            {several ? `Resume ${name}` : 'Resume'}
          </button>
        </form>
      )}
    </div>
  );
}

function NodeName({ name, id, testId }: { name: string; id: string; testId?: string }) {
  return (
    <span data-testid={testId}>
      <span className="strong">{name}</span>
      {name !== id && <span className="muted small mono"> {id}</span>}
    </span>
  );
}

function StepItem({ step: s, name, nameOf, highlighted }: { step: ExecutionStep; name: string; nameOf: (id: string) => string; highlighted: boolean }) {
  const [open, setOpen] = useState(s.status === 'failed');
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (highlighted) ref.current?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [highlighted]);
  return (
    <li ref={ref} className={`step step-${s.status}${highlighted ? ' highlighted' : ''}`} data-testid={`step-${s.node_id}`} data-status={s.status}>
      <button type="button" className="step-head" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span className={`badge badge-${s.status}`}>{s.status}</span>
        <NodeName name={name} id={s.node_id} testId={`step-name-${s.node_id}`} />
        <span className="muted small">{s.node_type}</span>
        {s.attempt > 1 && <span className="muted small">attempt {s.attempt}</span>}
        <span className="step-dur">{formatDuration(s.duration_ms ?? durationBetween(s.started_at, s.finished_at))}</span>
      </button>
      {open && (
        <div className="step-body">
          <p className="muted small">
            {formatDate(s.started_at)} → {formatDate(s.finished_at)}
          </p>
          {s.error && (
            <>
              <h3>Error</h3>
              <p className="error-message" tabIndex={0} data-testid={`step-error-${s.node_id}`}>
                {withNodeNames(s.error, nameOf)}
              </p>
            </>
          )}
          <h3>Input</h3>
          <Json value={s.input} />
          <h3>Output</h3>
          <Json value={s.output} testId={`step-output-${s.node_id}`} />
        </div>
      )}
    </li>
  );
}
