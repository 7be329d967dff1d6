/**
 * One value (a node's input or output) with a choice of views: table (lists of objects and
 * objects), JSON tree, raw text. Table is the first choice where it fits, like n8n.
 */
import { useState } from 'react';
import type { JsonValue } from '../../api/types';
import { prefersTable } from '../../lib/runData';
import { DataTable } from './DataTable';
import { JsonTree } from './JsonTree';
import { RawJson } from './RawJson';

export type DataViewKind = 'table' | 'tree' | 'raw';
const LABEL: Record<DataViewKind, string> = { table: 'Table', tree: 'JSON', raw: 'Raw' };

export function DataView({
  value,
  root,
  label,
  testId,
  initialView,
}: {
  value: JsonValue | undefined;
  /** The expression this value is reached by: `input`, `nodes.fetch.output`. */
  root: string;
  label: string;
  testId: string;
  /** The view to open with; else table where it fits, else the tree. */
  initialView?: DataViewKind;
}) {
  const [view, setView] = useState<DataViewKind>(() => initialView ?? (prefersTable(value) ? 'table' : 'tree'));
  if (value === undefined) return <p className="muted small">No data.</p>;
  return (
    <div className="data-view" data-testid={testId} data-view={view}>
      <div className="segmented" role="group" aria-label={`How to show ${label}`}>
        {(['table', 'tree', 'raw'] as const).map((v) => (
          <button
            key={v}
            type="button"
            className={view === v ? 'seg on' : 'seg'}
            aria-pressed={view === v}
            data-testid={`${testId}-view-${v}`}
            onClick={() => setView(v)}
          >
            {LABEL[v]}
          </button>
        ))}
      </div>
      {view === 'table' && <DataTable value={value} label={label} testId={`${testId}-table`} />}
      {view === 'tree' && <JsonTree value={value} root={root} testId={`${testId}-tree`} />}
      {view === 'raw' && <RawJson value={value} label={label} testId={`${testId}-raw`} />}
    </div>
  );
}
