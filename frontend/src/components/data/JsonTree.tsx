/**
 * A JSON value as a tree that draws only what is open: containers start folded (except the
 * root), their children come a page at a time, long strings are cut until asked for. Each key can
 * be dragged into an expression field, which inserts `{{ <path> }}`.
 */
import { useState, type DragEvent } from 'react';
import type { JsonObject, JsonValue } from '../../api/types';
import { cellText, expressionPath, isObject, kindOf, LONG_TEXT, pageBounds, summary, TREE_PAGE } from '../../lib/runData';
import { Pager } from './Pager';

/** MIME of a dragged expression; plain text carries the same so any input accepts the drop. */
export const EXPRESSION_MIME = 'application/x-schema-expression';

export function JsonTree({ value, root, testId }: { value: JsonValue | undefined; root: string; testId?: string }) {
  return (
    <ul className="json-tree" role="tree" aria-label={`${root} as a tree`} data-testid={testId}>
      <TreeNode name={root} value={value} path={[]} root={root} defaultOpen />
    </ul>
  );
}

function TreeNode({
  name,
  value,
  path,
  root,
  defaultOpen = false,
}: {
  name: string;
  value: JsonValue | undefined;
  path: (string | number)[];
  root: string;
  defaultOpen?: boolean;
}) {
  const kind = kindOf(value);
  const container = kind === 'object' || kind === 'array';
  const [open, setOpen] = useState(defaultOpen);
  const expr = expressionPath(root, path);
  const onDragStart = (e: DragEvent) => {
    e.dataTransfer.setData(EXPRESSION_MIME, expr);
    e.dataTransfer.setData('text/plain', `{{ ${expr} }}`);
    e.dataTransfer.effectAllowed = 'copy';
  };
  const key = (
    <span className="json-key" draggable onDragStart={onDragStart} title={`Drag into a field to insert {{ ${expr} }}`} data-expr={expr}>
      {name}
    </span>
  );
  if (!container) {
    return (
      <li role="treeitem" aria-selected={false} className="json-leaf">
        {key}: <Leaf value={value} />
      </li>
    );
  }
  return (
    <li role="treeitem" aria-expanded={open} aria-selected={false}>
      <button type="button" className="json-toggle" onClick={() => setOpen(!open)} aria-label={`${open ? 'Fold' : 'Unfold'} ${expr}`}>
        {open ? '▾' : '▸'}
      </button>
      {key} <span className="muted">{summary(value)}</span>
      {open && <Children value={value as JsonObject | JsonValue[]} path={path} root={root} />}
    </li>
  );
}

function Children({ value, path, root }: { value: JsonObject | JsonValue[]; path: (string | number)[]; root: string }) {
  const [page, setPage] = useState(0);
  const entries: [string | number, JsonValue][] = Array.isArray(value)
    ? value.map((v, i) => [i, v] as [number, JsonValue])
    : Object.keys(value).map((k) => [k, value[k]] as [string, JsonValue]);
  // Only the visible page's entries are built into elements (the index list is cheap).
  const b = pageBounds(entries.length, page, TREE_PAGE);
  return (
    <ul role="group">
      {entries.slice(b.start, b.end).map(([k, v]) => (
        <TreeNode key={String(k)} name={typeof k === 'number' ? `[${k}]` : k} value={v} path={[...path, k]} root={root} />
      ))}
      {b.pages > 1 && (
        <li className="json-pager">
          <Pager page={b.page} pages={b.pages} onPage={setPage} label={`items of ${expressionPath(root, path)}`} />
        </li>
      )}
    </ul>
  );
}

function Leaf({ value }: { value: JsonValue | undefined }) {
  const [whole, setWhole] = useState(false);
  const kind = kindOf(value);
  if (kind === 'string') {
    const s = value as string;
    const cut = !whole && s.length > LONG_TEXT;
    return (
      <span className="json-string">
        "{cut ? s.slice(0, LONG_TEXT) : s}
        {cut && (
          <button type="button" className="link-btn" onClick={() => setWhole(true)}>
            … {s.length - LONG_TEXT} more characters
          </button>
        )}
        "
      </span>
    );
  }
  return <span className={`json-${kind}`}>{cellText(value)}</span>;
}

/** Whether a value is worth a tree (else the raw text says it all). */
export const isContainer = (value: JsonValue | undefined) => isObject(value) || Array.isArray(value);
