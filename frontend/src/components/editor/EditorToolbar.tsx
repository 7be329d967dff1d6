/**
 * The editor's top bar: the schema's name (editable), status, version and unsaved marker, and
 * the buttons for undo / redo, auto-layout, validate, export, version history, webhook, activate / archive,
 * run now and save.
 */
import type { SchemaStatus } from '../../api/types';
import type { EditorCommands } from '../../hooks/useEditorCommands';

export function EditorToolbar({
  name,
  onNameChange,
  status,
  version,
  dirty,
  canUndo,
  canRedo,
  commands,
  onWebhook,
  onHistory,
  onRun,
}: {
  name: string;
  onNameChange: (name: string) => void;
  status: SchemaStatus;
  version: number;
  dirty: boolean;
  canUndo: boolean;
  canRedo: boolean;
  commands: Pick<EditorCommands, 'undo' | 'redo' | 'autoLayout' | 'validate' | 'exportFile' | 'changeStatus' | 'save' | 'saving'>;
  onWebhook: () => void;
  onHistory: () => void;
  onRun: () => void;
}) {
  return (
    <div className="editor-bar">
      <h1 className="sr-only">Edit schema {name}</h1>
      <input className="title-input" aria-label="Schema name" data-testid="schema-name" value={name} onChange={(e) => onNameChange(e.target.value)} />
      <span className={`badge badge-${status}`} data-testid="schema-status">
        {status}
      </span>
      <span className="muted small">v{version}</span>
      {/* A slot of fixed width: the marker coming and going never reflows the bar (or the canvas under it). */}
      <span className="dirty-slot" role="status">
        {dirty && (
          <span className="dirty-dot" data-testid="dirty">
            ● Unsaved
          </span>
        )}
      </span>
      <div className="toolbar">
        <button type="button" className="btn" aria-label="Undo (Ctrl+Z)" title="Undo (Ctrl+Z)" data-testid="undo" disabled={!canUndo} onClick={commands.undo}>
          ↶<span className="btn-text"> Undo</span>
        </button>
        <button
          type="button"
          className="btn"
          aria-label="Redo (Ctrl+Shift+Z)"
          title="Redo (Ctrl+Shift+Z)"
          data-testid="redo"
          disabled={!canRedo}
          onClick={commands.redo}
        >
          ↷<span className="btn-text"> Redo</span>
        </button>
        <button type="button" className="btn" data-testid="auto-layout" onClick={commands.autoLayout}>
          Auto-layout
        </button>
        <button type="button" className="btn" data-testid="validate" onClick={() => void commands.validate()}>
          Validate
        </button>
        <button type="button" className="btn" data-testid="export" onClick={commands.exportFile}>
          Export
        </button>
        <button type="button" className="btn" data-testid="history" aria-label="Version history" title="Version history" onClick={onHistory}>
          <svg className="btn-icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
            <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
          </svg>
          <span className="btn-text"> History</span>
        </button>
        <button type="button" className="btn" data-testid="webhook" onClick={onWebhook}>
          Webhook
        </button>
        {status !== 'active' && (
          <button type="button" className="btn" data-testid="activate" onClick={() => void commands.changeStatus('activate')}>
            Activate
          </button>
        )}
        {status !== 'archived' && (
          <button type="button" className="btn" data-testid="archive" onClick={() => void commands.changeStatus('archive')}>
            Archive
          </button>
        )}
        <button type="button" className="btn" data-testid="run-now" disabled={status === 'archived'} onClick={onRun}>
          ▶ Run now
        </button>
        <button type="button" className="btn btn-primary" data-testid="save" disabled={commands.saving} onClick={() => void commands.save()}>
          {commands.saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </div>
  );
}
