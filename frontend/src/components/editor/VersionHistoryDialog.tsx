/**
 * Version history: every saved version (who, when), what changed between two of them, and
 * "Restore this version", which saves that definition as a new version (history is kept).
 */
import { useMemo, useState } from 'react';
import { useSchemaVersions } from '../../api/hooks';
import type { Schema, SchemaVersion } from '../../api/types';
import { useRestoreVersion } from '../../api/versions';
import { formatDate } from '../../lib/format';
import { definitionDiff, noteLabel, type DefinitionDiff, type NoteDiff, type ValueChange } from '../../lib/versionDiff';
import { Dialog } from '../Dialog';
import { ErrorBanner } from '../ErrorList';

const show = (v: unknown) => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

function Changes({ changes }: { changes: ValueChange[] }) {
  return (
    <ul className="diff-changes">
      {changes.map((c) => (
        <li key={c.path}>
          <span className="mono">{c.path}</span>: <del className="diff-before">{show(c.before)}</del> → <ins className="diff-after">{show(c.after)}</ins>
        </li>
      ))}
    </ul>
  );
}

function NoteChange({ note }: { note: NoteDiff }) {
  return (
    <li className={`diff-${note.kind}`} data-testid={`diff-note-${note.id}`}>
      <strong>{noteLabel(note.kind === 'added' ? note.after : note.before)}</strong> <span className={`diff-kind diff-kind-${note.kind}`}>{note.kind}</span>
      {note.kind === 'changed' && (
        <p className="diff-changes diff-note-text">
          <del className="diff-before">{note.before || '—'}</del> → <ins className="diff-after">{note.after || '—'}</ins>
        </p>
      )}
    </li>
  );
}

export function DiffView({ diff }: { diff: DefinitionDiff }) {
  if (diff.same)
    return (
      <p className="muted" data-testid="diff-same">
        Same nodes, notes, connections and settings{diff.moved.length ? ` (${diff.moved.length} moved on the canvas)` : ''}.
      </p>
    );
  return (
    <div className="version-diff" data-testid="version-diff">
      {diff.nodes.length > 0 && (
        <section>
          <h3>Nodes</h3>
          <ul>
            {diff.nodes.map((n) => (
              <li key={n.id} className={`diff-${n.kind}`} data-testid={`diff-node-${n.id}`}>
                <strong>{n.name}</strong> <span className={`diff-kind diff-kind-${n.kind}`}>{n.kind}</span>
                {n.changes.length > 0 && <Changes changes={n.changes} />}
              </li>
            ))}
          </ul>
        </section>
      )}
      {diff.notes.length > 0 && (
        <section>
          <h3>Sticky notes</h3>
          <ul>
            {diff.notes.map((n) => (
              <NoteChange key={n.id} note={n} />
            ))}
          </ul>
        </section>
      )}
      {diff.edges.length > 0 && (
        <section>
          <h3>Connections</h3>
          <ul>
            {diff.edges.map((e) => (
              <li key={`${e.kind}${e.label}`} className={`diff-${e.kind}`}>
                {e.label} <span className={`diff-kind diff-kind-${e.kind}`}>{e.kind}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {diff.variables.length > 0 && (
        <section>
          <h3>Variables</h3>
          <Changes changes={diff.variables} />
        </section>
      )}
      {diff.settings.length > 0 && (
        <section>
          <h3>Execution settings</h3>
          <Changes changes={diff.settings} />
        </section>
      )}
      {diff.moved.length > 0 && <p className="muted small">Also moved on the canvas: {diff.moved.join(', ')}.</p>}
    </div>
  );
}

export function VersionHistoryDialog({
  schema,
  dirty,
  onClose,
  onRestored,
}: {
  schema: Schema;
  /** Unsaved changes in the editor: restoring replaces them, so the user is asked first. */
  dirty: boolean;
  onClose: () => void;
  onRestored: (schema: Schema, fromVersion: number) => void;
}) {
  const versions = useSchemaVersions(schema.id);
  const restore = useRestoreVersion(schema.id);
  const list: SchemaVersion[] = versions.data ?? [];
  const [picked, setPicked] = useState<number | null>(null);
  const [against, setAgainst] = useState<number | null>(null);
  // By default: the version before the current one, compared with the current one.
  const selected = list.find((v) => v.version === picked) ?? list[1] ?? list[0];
  const other = list.find((v) => v.version === against) ?? list.find((v) => v.version === schema.version) ?? list[0];
  const diff = useMemo(
    () => (selected && other ? definitionDiff(selected.definition, other.definition) : null),
    [selected, other],
  );

  const doRestore = async () => {
    if (!selected) return;
    if (dirty && !window.confirm(`Restore version ${selected.version}? Your unsaved changes in the editor will be replaced.`)) return;
    try {
      onRestored(await restore.mutateAsync(selected.version), selected.version);
    } catch {
      // Shown below from restore.error.
    }
  };

  return (
    <Dialog title="Version history" onClose={onClose} testId="version-history" wide>
      {versions.error ? <ErrorBanner error={versions.error} /> : null}
      {versions.isLoading && <p role="status">Loading versions…</p>}
      <div className="version-history">
        <ol className="version-list" aria-label="Versions">
          {list.map((v) => (
            <li key={v.version}>
              <button
                type="button"
                className={`version-item${v.version === selected?.version ? ' selected' : ''}`}
                aria-pressed={v.version === selected?.version}
                data-testid={`version-${v.version}`}
                onClick={() => setPicked(v.version)}
              >
                <span className="version-number">v{v.version}</span>
                {v.version === schema.version && <span className="badge badge-active">current</span>}
                <span className="version-meta">
                  {v.created_by ?? 'unknown'} · {formatDate(v.created_at)}
                </span>
              </button>
            </li>
          ))}
        </ol>
        {selected && other && diff && (
          <div className="version-detail">
            <div className="version-compare">
              <span>
                Changes from <strong>v{selected.version}</strong> to
              </span>
              <select aria-label="Compare with version" data-testid="compare-with" value={other.version} onChange={(e) => setAgainst(Number(e.target.value))}>
                {list.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                    {v.version === schema.version ? ' (current)' : ''}
                  </option>
                ))}
              </select>
            </div>
            <DiffView diff={diff} />
            {restore.error ? <ErrorBanner error={restore.error} /> : null}
            <div className="version-actions">
              <button
                type="button"
                className="btn btn-primary"
                data-testid="restore-version"
                disabled={restore.isPending || selected.version === schema.version}
                onClick={() => void doRestore()}
              >
                {restore.isPending ? 'Restoring…' : `Restore version ${selected.version}`}
              </button>
              <span className="muted small">Saves it as a new version; the history stays.</span>
            </div>
          </div>
        )}
      </div>
    </Dialog>
  );
}
