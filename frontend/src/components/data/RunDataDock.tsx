/**
 * Under the canvas: the input the selected node received and the output it produced, in the
 * latest execution of this schema or one loaded from the list ("Load execution"), each in a
 * table / JSON tree / raw view. "Run this node" runs the node once on the server (a test run, no
 * execution) with that input — or JSON edited here — and shows its result in the output pane;
 * "Run to here" runs the draft up to the node (a test run too) and puts each node's input and
 * output of that walk in the panes. Any node's output can be pinned (a trigger's input is its
 * output): test runs and previews use the pin instead of running it — "Run this node" on a pinned
 * node shows its pin and offers "Run anyway (ignore pin)". Foldable; remembered.
 */
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import type { Definition, JsonValue, NodeTypeSpec } from '../../api/types';
import { useNodeTest } from '../../hooks/useNodeTest';
import { usePersistentFlag } from '../../hooks/usePersistentFlag';
import type { RunData } from '../../hooks/useRunData';
import type { RunToHere } from '../../hooks/useRunToHere';
import { inputFor } from '../../lib/expressionScope';
import { sideEffectsOnTheWay, walkInputFor, walkSummary } from '../../lib/walk';
import { formatDate, formatDuration } from '../../lib/format';
import { withNodeNames } from '../../lib/nodeNames';
import { JsonText } from '../JsonText';
import { useNodeNames } from '../NodeNamesContext';
import { DataView } from './DataView';

export interface DockNode {
  id: string;
  name: string;
  spec: NodeTypeSpec | undefined;
}

export function RunDataDock({
  run,
  node,
  schemaId,
  definition,
  pinned,
  pins,
  onPin,
  walk,
  specs,
}: {
  run: RunData;
  node: DockNode | undefined;
  schemaId: string;
  /** Pinned test data of the trigger (saved with the draft; production runs never use it). */
  pinned: JsonValue | undefined;
  /** Every pinned node's data (the trigger's too), by node id. */
  pins: ReadonlyMap<string, JsonValue>;
  /** Pins `value` on node `nodeId`, or removes the pin (`undefined`). */
  onPin: (nodeId: string, value: JsonValue | undefined) => void;
  /** "Run to here": the last test walk (its steps fill the panes) and how to start one. */
  walk: RunToHere;
  /** The node types (which ones have side effects). */
  specs: ReadonlyMap<string, NodeTypeSpec>;
  /** The draft on screen: a test run uses it, and a node that did not run gets its upstream's output. */
  definition: Definition;
}) {
  const [collapsed, setCollapsed] = usePersistentFlag('schema.editor.dataCollapsed');
  const { nameOf } = useNodeNames();
  const ex = run.execution;
  const step = node ? run.stepByNode.get(node.id) : undefined;
  const isTrigger = !!node?.spec?.is_trigger;
  // A trigger's input is the payload the run started with; a node that did not run would get
  // the output of the upstream node that did.
  const fromRun = node && !isTrigger ? inputFor(node.id, definition.edges, run.stepByNode, pins) : undefined;
  const walkStep = node ? walk.walk?.steps.find((s) => s.node_id === node.id) : undefined;
  const runInput: JsonValue | undefined = isTrigger ? (pinned ?? ex?.trigger_payload ?? undefined) : fromRun?.value;
  // After a walk, a node it did not reach shows what it would get from the walk.
  const walkNext = node && walk.walk && !walkStep && !isTrigger ? walkInputFor(walk.walk, node.id, definition.edges) : undefined;
  const input: JsonValue | undefined = walkStep ? walkStep.input : walkNext !== undefined ? walkNext : runInput;
  const nodePin = node && !isTrigger ? pins.get(node.id) : undefined;
  const output = step?.output as JsonValue | undefined;

  const test = useNodeTest(schemaId);
  const [edited, setEdited] = useState<JsonValue | undefined>(undefined);
  const [editing, setEditing] = useState(false);
  const [editingPin, setEditingPin] = useState(false);
  const [pinText, setPinText] = useState<JsonValue | undefined>(undefined);
  const nodeId = node?.id;
  const clearTest = test.clear;
  useEffect(() => {
    // Another node, another run: the edits and the test result belonged to the previous one.
    setEditing(false);
    setEdited(undefined);
    setEditingPin(false);
    setPinText(undefined);
    clearTest();
  }, [nodeId, ex?.id, clearTest]);
  // What the output pane shows, newest first: this node's test run, its step of the walk, its
  // pin, the run's step. That is what "Pin this output" pins.
  const shownOutput: JsonValue | undefined = test.result ? test.result.output : walkStep ? walkStep.output : (nodePin ?? output);
  const runToHere = () =>
    node &&
    void walk.run(
      {
        nodeId: node.id,
        definition,
        executionId: ex?.id ?? null,
        payload: isTrigger && editing && edited !== undefined ? edited : undefined,
        acting: sideEffectsOnTheWay(definition, node.id, specs).map(nameOf),
      },
      (message) => window.confirm(message),
    );
  const testInput = editing && edited !== undefined ? edited : input;
  const runNode = (ignorePin = false) =>
    node &&
    void test.run(
      {
        nodeId: node.id,
        isTrigger,
        sideEffects: !!node.spec?.side_effects,
        label: node.name,
        definition,
        executionId: ex?.id ?? null,
        input: testInput,
        trigger: pinned,
        pinned: nodePin,
      },
      (message) => window.confirm(message),
      ignorePin,
    );

  return (
    <section className={`data-dock${collapsed ? ' collapsed' : ''}`} aria-label="Run data" data-testid="data-dock">
      <header className="data-dock-head">
        <button
          type="button"
          className="icon-btn"
          aria-expanded={!collapsed}
          aria-label={`${collapsed ? 'Show' : 'Hide'} run data`}
          data-testid="data-dock-toggle"
          onClick={() => setCollapsed(!collapsed)}
        >
          {collapsed ? '▸' : '▾'}
        </button>
        <h2 className="data-dock-title">Run data</h2>
        <label className="data-dock-pick">
          <span className="muted small">Execution</span>
          <select value={run.chosenId ?? ''} data-testid="load-execution" onChange={(e) => run.choose(e.target.value || null)} disabled={!run.recent.length}>
            <option value="">{run.recent.length ? 'Latest' : 'No runs yet'}</option>
            {run.recent.map((r) => (
              <option key={r.id} value={r.id}>
                {/* Status first: the narrow select cuts the end of the text. */}
                {r.status} · {formatDate(r.created_at)} · {r.trigger_type}
              </option>
            ))}
          </select>
        </label>
        {ex && (
          <>
            <span className={`badge badge-${ex.status}`} data-testid="data-execution-status">
              {ex.status}
            </span>
            <Link className="small" to={`/executions/${ex.id}`}>
              Open execution
            </Link>
          </>
        )}
        {node && (
          <span className="data-run-buttons">
            <button
              type="button"
              className="btn btn-small btn-primary"
              data-testid="run-node"
              disabled={test.running}
              title={nodePin !== undefined ? 'Pinned: its output is the pinned data (Unpin, or “Run anyway”, to run it for real)' : undefined}
              onClick={() => runNode()}
            >
              {test.running ? 'Running…' : `▶ Run this node${node.spec?.side_effects ? ' (side effects)' : ''}`}
            </button>
            <button
              type="button"
              className="btn btn-small"
              data-testid="run-to-here"
              disabled={walk.running}
              title="A test run from the trigger up to this node: nothing after it runs, pinned nodes give their pins"
              onClick={runToHere}
            >
              {walk.running ? 'Running…' : '⇥ Run to here'}
            </button>
          </span>
        )}
      </header>
      {!collapsed && (walk.walk || walk.error) && (
        <div className={`data-walk banner ${walk.error || walk.walk?.status !== 'success' ? 'banner-warn' : 'banner-ok'}`} data-testid="walk-summary" data-status={walk.walk?.status ?? 'error'} role="status">
          <span>
            <strong>Run to here</strong> (a test run, not an execution):{' '}
            {walk.error ? withNodeNames(walk.error, nameOf) : walk.walk && withNodeNames(walkSummary(walk.walk, nameOf), nameOf)}
            {walk.walk?.error && <span data-testid="walk-error"> {withNodeNames(walk.walk.error, nameOf)}</span>}
          </span>
          <button type="button" className="link-btn small" data-testid="close-walk" onClick={walk.clear}>
            Back to the run’s data
          </button>
        </div>
      )}
      {!collapsed && (
        <div className="data-dock-body">
          {!node ? (
            <p className="muted data-empty">
              {!ex
                ? run.loading
                  ? 'Loading run data…'
                  : 'No execution of this schema yet. Run it to see each node’s input and output here.'
                : 'Select a node to see the input it received and the output it produced in this execution.'}
            </p>
          ) : (
            <div className="data-panes">
              <div className="data-pane" data-testid="input-pane">
                <h3>
                  Input <span className="muted small mono">{isTrigger ? 'trigger' : 'input'}</span>
                  {isTrigger && pinned !== undefined && (
                    <span className="badge badge-paused" data-testid="pinned-badge" title="Saved with the draft; used by previews and test runs, never by production runs">
                      pinned
                    </span>
                  )}
                  {walkStep ? (
                    <span className="badge badge-running" data-testid="walk-input-badge">
                      run to here
                    </span>
                  ) : walkNext !== undefined ? (
                    <span className="muted small" data-testid="walk-next-input">(what it would get from the test run)</span>
                  ) : (
                    fromRun && !fromRun.ran && input !== undefined && <span className="muted small">(what it would get: the upstream output)</span>
                  )}
                  <button
                    type="button"
                    className="link-btn small"
                    data-testid="edit-input"
                    aria-pressed={editing}
                    onClick={() => {
                      setEditing(!editing);
                      setEdited(undefined);
                    }}
                  >
                    {editing ? 'Use the run’s input' : 'Edit input'}
                  </button>
                  {isTrigger && (
                    <button
                      type="button"
                      className="link-btn small"
                      data-testid={pinned !== undefined && !editing ? 'unpin' : 'pin'}
                      disabled={testInput === undefined}
                      title="Pinned data is saved with the draft and used by previews and test runs instead of a run's payload; production runs never use it."
                      onClick={() => {
                        onPin(node.id, pinned !== undefined && !editing ? undefined : testInput);
                        setEditing(false);
                        setEdited(undefined);
                      }}
                    >
                      {pinned !== undefined && !editing ? 'Unpin' : 'Pin this data'}
                    </button>
                  )}
                </h3>
                {editing ? (
                  <JsonText
                    id="test-input"
                    label="Input for “Run this node” (JSON)"
                    value={edited ?? input ?? {}}
                    onChange={setEdited}
                    rows={8}
                    testId="test-input"
                  />
                ) : input === undefined ? (
                  <p className="muted small">{ex ? 'No input in this execution.' : 'No run yet: edit an input to run this node.'}</p>
                ) : (
                  <DataView key={`${walkStep || walkNext !== undefined ? 'walk' : ex?.id}:${node.id}:in`} value={input} root={isTrigger ? 'trigger' : 'input'} label="input" testId="input-data" />
                )}
              </div>
              <div className="data-pane" data-testid="output-pane">
                {test.error && (
                  <p className="error-message" role="alert" data-testid="test-error">
                    {withNodeNames(test.error, nameOf)}
                  </p>
                )}
                {test.showedPin && nodePin !== undefined && (
                  <p className="banner banner-warn data-pinned-run" role="status" data-testid="pinned-run-note">
                    <span>Pinned data — unpin to run this node for real.</span>
                    <button type="button" className="btn btn-small" data-testid="run-anyway" disabled={test.running} onClick={() => runNode(true)}>
                      Run anyway (ignore pin)
                    </button>
                  </p>
                )}
                {test.result ? (
                  <TestResult result={test.result} nodeId={node.id} onClose={test.clear} />
                ) : walkStep ? (
                  <>
                    <h3>
                      Output <span className="muted small mono">nodes.{node.id}.output</span>
                      <span className={`badge badge-${walkStep.status === 'pinned' ? 'paused' : walkStep.status}`} data-testid="walk-step-status">
                        {walkStep.status}
                      </span>
                      {walkStep.port && (
                        <span className="muted small">
                          took <strong data-testid="walk-port">{walkStep.port}</strong>
                        </span>
                      )}
                    </h3>
                    {walkStep.error && (
                      <p className="error-message" data-testid="walk-step-error">
                        {withNodeNames(walkStep.error, nameOf)}
                      </p>
                    )}
                    <DataView key={`walk:${node.id}:out`} value={walkStep.output} root={`nodes.${node.id}.output`} label="output" testId="walk-output" />
                  </>
                ) : nodePin !== undefined && !editingPin ? (
                  <>
                    <h3>
                      Output <span className="muted small mono">nodes.{node.id}.output</span>
                      <span className="badge badge-paused" data-testid="output-pinned-badge" title="Saved with the draft; test runs use it instead of running this node, production runs never">
                        pinned
                      </span>
                    </h3>
                    <DataView key={`pin:${node.id}`} value={nodePin} root={`nodes.${node.id}.output`} label="pinned output" testId="pinned-output" />
                  </>
                ) : editingPin ? (
                  <>
                    <h3>
                      Output <span className="muted small mono">nodes.{node.id}.output</span>
                    </h3>
                    <JsonText id="pin-text" label="Data to pin as this node’s output (JSON)" value={pinText ?? shownOutput ?? {}} onChange={setPinText} rows={8} testId="pin-text" />
                  </>
                ) : (
                  <>
                    <h3>
                      Output <span className="muted small mono">nodes.{node.id}.output</span>
                      {step && (
                        <span className={`badge badge-${step.status}`} data-testid="output-step-status">
                          {step.status}
                        </span>
                      )}
                    </h3>
                    {step?.error && (
                      <p className="error-message" data-testid="output-error">
                        {withNodeNames(step.error, nameOf)}
                      </p>
                    )}
                    {step ? (
                      <DataView
                        key={`${ex?.id}:${node.id}:out`}
                        value={output}
                        root={`nodes.${node.id}.output`}
                        label="output"
                        testId="output-data"
                        // A failure's details (an HTTP answer's body) sit four levels deep: shown whole.
                        initialView={step.status === 'failed' ? 'raw' : undefined}
                      />
                    ) : (
                      <p className="muted small" data-testid="data-not-run">
                        {walk.walk ? (
                          <>
                            <strong>{node.name}</strong> did not run in this test run (it comes after {nameOf(walk.walk.node_id)}, or on a branch not taken).
                          </>
                        ) : ex ? (
                          <>
                            <strong>{node.name}</strong> did not run in this execution.
                          </>
                        ) : (
                          'No run yet.'
                        )}{' '}
                        “Run this node” tries it now.
                      </p>
                    )}
                  </>
                )}
                {!isTrigger && (
                  <p className="data-pin-actions">
                    {editingPin ? (
                      <>
                        <button
                          type="button"
                          className="btn btn-small"
                          data-testid="pin-edited"
                          onClick={() => {
                            onPin(node.id, pinText ?? shownOutput ?? {});
                            setEditingPin(false);
                            setPinText(undefined);
                          }}
                        >
                          Pin this data
                        </button>
                        <button type="button" className="link-btn small" onClick={() => setEditingPin(false)}>
                          Cancel
                        </button>
                      </>
                    ) : nodePin !== undefined ? (
                      <>
                        <button type="button" className="link-btn small" data-testid="unpin-output" onClick={() => onPin(node.id, undefined)}>
                          Unpin
                        </button>
                        <button type="button" className="link-btn small" data-testid="edit-pin" onClick={() => setEditingPin(true)}>
                          Edit pinned data
                        </button>
                      </>
                    ) : (
                      <>
                        <button
                          type="button"
                          className="link-btn small"
                          data-testid="pin-output"
                          disabled={shownOutput === undefined}
                          title="Pinned data is saved with the draft; test runs (Run this node, Run to here) use it instead of running this node; production runs never use it."
                          onClick={() => {
                            if (shownOutput === undefined) return;
                            onPin(node.id, shownOutput);
                            // The pane then shows the pin, marked "pinned" (not a test result that looks unchanged).
                            test.clear();
                          }}
                        >
                          Pin this output
                        </button>
                        <button type="button" className="link-btn small" data-testid="edit-pin" onClick={() => setEditingPin(true)}>
                          Pin other data…
                        </button>
                      </>
                    )}
                  </p>
                )}
              </div>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

function TestResult({ result, nodeId, onClose }: { result: NonNullable<ReturnType<typeof useNodeTest>['result']>; nodeId: string; onClose: () => void }) {
  const { nameOf } = useNodeNames();
  return (
    <div data-testid="test-result" data-status={result.status}>
      <h3>
        Test run <span className={`badge badge-${result.status}`}>{result.status}</span>
        <span className="muted small">{formatDuration(result.duration_ms)}</span>
        <button type="button" className="link-btn small" onClick={onClose} data-testid="close-test-result">
          Back to the run’s output
        </button>
      </h3>
      <p className="muted small">
        Not an execution: nothing downstream ran.
        {result.port && (
          <>
            {' '}
            Would follow <strong data-testid="test-port">{result.port}</strong>.
          </>
        )}
        {result.pause && <> Would pause here ({result.pause.kind}).</>}
      </p>
      {result.error && (
        <p className="error-message" data-testid="test-result-error">
          {withNodeNames(result.error, nameOf)}
        </p>
      )}
      <DataView key={result.id} value={result.output} root={`nodes.${nodeId}.output`} label="test output" testId="test-output" />
    </div>
  );
}
