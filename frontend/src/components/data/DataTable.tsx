/** A list of objects (or an object) as a table, a page of rows at a time. */
import { useMemo, useState } from 'react';
import type { JsonValue } from '../../api/types';
import { cellText, isObject, pageBounds, TABLE_PAGE, tableOf, tableSource } from '../../lib/runData';
import { Pager } from './Pager';

export function DataTable({ value, label, testId }: { value: JsonValue | undefined; label: string; testId?: string }) {
  const source = useMemo(() => tableSource(value), [value]);
  const table = useMemo(() => tableOf(source.value), [source]);
  const [page, setPage] = useState(0);
  if (!table) return <p className="muted small">Not a list or an object: see the JSON view.</p>;
  const b = pageBounds(table.rows.length, page, TABLE_PAGE);
  const keyed = !Array.isArray(source.value);
  const count = table.rows.length;
  return (
    <div className="data-table-wrap" data-testid={testId}>
      <div className="data-table-scroll" tabIndex={0} role="region" aria-label={`${label} as a table`}>
        <table className="data-table">
          <thead>
            <tr>
              {!keyed && <th scope="col">#</th>}
              {table.columns.map((c) => (
                <th key={c} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {table.rows.slice(b.start, b.end).map((row, i) => (
              <tr key={b.start + i}>
                {!keyed && <td className="muted">{b.start + i}</td>}
                {table.columns.map((c) => {
                  const cell = isObject(row) ? row[c] : c === 'value' ? row : undefined;
                  return <td key={c}>{cellText(cell as JsonValue | undefined, 120)}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="data-foot">
        <span className="muted small" data-testid={testId && `${testId}-count`}>
          {source.path.length > 0 && <span className="mono">{source.path.join('.')}: </span>}
          {count} {keyed ? (count === 1 ? 'key' : 'keys') : count === 1 ? 'row' : 'rows'}
        </span>
        <Pager page={b.page} pages={b.pages} onPage={setPage} label={`rows of ${label}`} testId={testId && `${testId}-pager`} />
      </div>
    </div>
  );
}
