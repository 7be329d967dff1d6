/**
 * Under the canvas: the input the selected node received and the output it produced, in the
 * latest execution of this schema or one loaded from the list ("Load execution"), each in a
 * table / JSON tree / raw view. Foldable; the choice is remembered.
 */
import { Link } from 'react-router-dom';
import type { JsonValue, NodeTypeSpec } from '../../api/types';
import { usePersistentFlag } from '../../hooks/usePersistentFlag';
import type { RunData } from '../../hooks/useRunData';
import { formatDate } from '../../lib/format';
import { DataView } from './DataView';

export interface DockNode {
  id: string;
  name: string;
  spec: NodeTypeSpec | undefined;
}

export function RunDataDock({ run, node }: { run: RunData; node: DockNode | undefined }) {
  const [collapsed, setCollapsed] = usePersistentFlag('schema.editor.dataCollapsed');
  const ex = run.execution;
  const step = node ? run.stepByNode.get(node.id) : undefined;
  // A trigger's input is the payload the run started with.
  const input: JsonValue | undefined = node?.spec?.is_trigger ? ex?.trigger_payload : (step?.input as JsonValue | undefined);
  const output = step?.output as JsonValue | undefined;
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
          <select
            value={run.chosenId ?? ''}
            data-testid="load-execution"
            onChange={(e) => run.choose(e.target.value || null)}
            disabled={!run.recent.length}
          >
            <option value="">{run.recent.length ? 'Latest' : 'No runs yet'}</option>
            {run.recent.map((r) => (
              <option key={r.id} value={r.id}>
                {formatDate(r.created_at)} · {r.status} · {r.trigger_type}
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
      </header>
      {!collapsed && (
        <div className="data-dock-body">
          {!ex ? (
            <p className="muted data-empty">
              {run.loading ? 'Loading run data…' : 'No execution of this schema yet. Run it to see each node’s input and output here.'}
            </p>
          ) : !node ? (
            <p className="muted data-empty">Select a node to see the input it received and the output it produced in this execution.</p>
          ) : !step && !node.spec?.is_trigger ? (
            <p className="muted data-empty" data-testid="data-not-run">
              <strong>{node.name}</strong> did not run in this execution.
            </p>
          ) : (
            <div className="data-panes">
              <div className="data-pane" data-testid="input-pane">
                <h3>
                  Input <span className="muted small mono">input</span>
                </h3>
                <DataView key={`${ex.id}:${node.id}:in`} value={input} root={node.spec?.is_trigger ? 'trigger' : 'input'} label="input" testId="input-data" />
              </div>
              <div className="data-pane" data-testid="output-pane">
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
                    {step.error}
                  </p>
                )}
                <DataView key={`${ex.id}:${node.id}:out`} value={output} root={`nodes.${node.id}.output`} label="output" testId="output-data" />
              </div>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
