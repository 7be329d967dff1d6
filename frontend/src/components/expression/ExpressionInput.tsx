/**
 * The editor of a field that accepts `{{ … }}` expressions: CodeMirror 6 with Jinja colouring,
 * completion of what the node can see (`vars.*`, `input.*`, `trigger.*`, `nodes.<id>.output.*`
 * with the loaded run's keys, and the sandbox's filters after `|`), and under it the live value
 * the server computes against the run's data, or the error in plain words. A field dragged from
 * the input/output panes drops in as `{{ path }}`.
 */
import { useEffect, useRef } from 'react';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap, type Completion } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { jinja } from '@codemirror/lang-jinja';
import { defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap, placeholder as placeholderExt } from '@codemirror/view';
import type { JsonObject } from '../../api/types';
import { useExpressionPreview } from '../../hooks/useExpressionPreview';
import { propertiesAt, valueHint } from '../../lib/expressionScope';
import { useExpressionSupport } from './ExpressionContext';
import { registerPendingEdit } from '../../lib/pendingEdits';

/** Typing commits to the editor's store once the user pauses (or leaves the field): a keystroke
 * then costs CodeMirror alone, not a re-render of the store, the canvas and the panes. */
export const COMMIT_DELAY_MS = 120;

const ROOTS: { name: string; info: string }[] = [
  { name: 'vars', info: 'variables: the schema’s and those set by upstream nodes' },
  { name: 'input', info: 'the output of the node before this one' },
  { name: 'trigger', info: 'the payload the run started with' },
  { name: 'nodes', info: 'nodes.<id>.output: any upstream node’s output' },
  { name: 'execution', info: 'execution.id' },
  { name: 'env', info: 'env.NAME: your variables (the Variables page)' },
];

function completionConfig(data: { current: JsonObject }) {
  return {
    variables: ROOTS.map((r): Completion => ({ label: r.name, type: 'variable', info: r.info })),
    properties: (path: readonly string[]): readonly Completion[] =>
      propertiesAt(data.current, path).map(({ name, value }) => ({
        label: name,
        type: value !== null && typeof value === 'object' ? 'namespace' : 'property',
        detail: valueHint(value),
      })),
  };
}

const theme = EditorView.theme({
  '&': { border: '1px solid var(--border, #cbd5e1)', borderRadius: '4px', background: '#fff', fontSize: '0.85rem' },
  '&.cm-focused': { outline: '2px solid #2563eb', outlineOffset: '0' },
  '.cm-content': { fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace", padding: '4px 2px', minHeight: '1.4em' },
  '.cm-scroller': { maxHeight: '9em', overflow: 'auto' },
  '.cm-tooltip-autocomplete': { fontSize: '0.8rem' },
  '.cm-placeholder': { color: '#556070' }, // readable: 4.5:1 or more on white
});

export function ExpressionInput({
  id,
  value,
  onChange,
  label,
  testId,
  hintFor,
  invalid,
  placeholder,
}: {
  id: string;
  value: string;
  onChange: (text: string) => void;
  /** The field's label, as the editor's accessible name. */
  label: string;
  testId: string;
  hintFor?: string;
  invalid?: boolean;
  placeholder?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const support = useExpressionSupport();
  const data = useRef<JsonObject>(support?.data ?? {});
  data.current = support?.data ?? {};
  const attrs = useRef(new Compartment());
  const pending = useRef<number | null>(null);

  useEffect(() => {
    const flush = (): boolean => {
      if (pending.current === null) return false;
      window.clearTimeout(pending.current);
      pending.current = null;
      if (view.current) onChangeRef.current(view.current.state.doc.toString());
      return true;
    };
    const state = EditorState.create({
      doc: value,
      extensions: [
        history(),
        closeBrackets(),
        keymap.of([...closeBracketsKeymap, ...completionKeymap, ...defaultKeymap, ...historyKeymap]),
        jinja(completionConfig(data)),
        autocompletion({ activateOnTyping: true, icons: false }),
        syntaxHighlighting(defaultHighlightStyle),
        EditorView.lineWrapping,
        theme,
        placeholder ? placeholderExt(placeholder) : [],
        attrs.current.of([]),
        EditorView.updateListener.of((u) => {
          if (!u.docChanged) return;
          if (pending.current !== null) window.clearTimeout(pending.current);
          pending.current = window.setTimeout(() => void flush(), COMMIT_DELAY_MS);
        }),
        EditorView.domEventHandlers({ blur: () => void flush() }),
      ],
    });
    const v = new EditorView({ state, parent: host.current! });
    view.current = v;
    const unregister = registerPendingEdit(flush);
    return () => {
      unregister();
      flush();
      v.destroy();
      view.current = null;
    };
    // The editor is made once; value and attributes follow below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Attributes the form, the labels and the tests rely on, on the editable element.
  useEffect(() => {
    view.current?.dispatch({
      effects: attrs.current.reconfigure(
        EditorView.contentAttributes.of({
          id,
          'aria-label': label,
          'aria-invalid': invalid ? 'true' : 'false',
          'data-testid': testId,
          ...(hintFor ? { 'data-hint-for': hintFor } : {}),
        }),
      ),
    });
  }, [id, label, invalid, testId, hintFor]);

  // A value changed from outside (undo, another panel): replace the text, keep the cursor in range.
  useEffect(() => {
    const v = view.current;
    // Typed text not committed yet is newer than `value`: keep it.
    if (!v || pending.current !== null) return;
    const current = v.state.doc.toString();
    if (current !== value) {
      const head = Math.min(v.state.selection.main.head, value.length);
      v.dispatch({ changes: { from: 0, to: current.length, insert: value }, selection: { anchor: head } });
    }
  }, [value]);

  const preview = useExpressionPreview(value, support, true);
  return (
    <div className="expr-input">
      <div ref={host} className={invalid ? 'expr-editor invalid' : 'expr-editor'} />
      <ExpressionPreviewLine state={preview} testId={`preview-${testId}`} />
    </div>
  );
}

function ExpressionPreviewLine({ state, testId }: { state: ReturnType<typeof useExpressionPreview>; testId: string }) {
  if (state.status === 'idle') return null;
  if (state.status === 'loading')
    return (
      <p className="expr-preview muted" data-testid={testId} data-state="loading">
        computing…
      </p>
    );
  if (state.status === 'unavailable')
    return (
      <p className="expr-preview muted" data-testid={testId} data-state="unavailable">
        No preview: {state.message}
      </p>
    );
  const p = state.preview;
  if (p.error)
    return (
      <p className="expr-preview expr-preview-error" data-testid={testId} data-state="error" role="status">
        {p.error}
      </p>
    );
  const text = JSON.stringify(p.value);
  return (
    <p className="expr-preview" data-testid={testId} data-state="value" role="status">
      <span className="muted">= </span>
      <code>{text.length > 300 ? `${text.slice(0, 299)}…` : text}</code> <span className="muted small">{p.value_type}</span>
    </p>
  );
}
