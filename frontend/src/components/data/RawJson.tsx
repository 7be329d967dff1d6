/** The value as pretty JSON text, a page of lines at a time (a 5 MB value is never one <pre>). */
import { useMemo, useState } from 'react';
import type { JsonValue } from '../../api/types';
import { pageBounds, RAW_PAGE_LINES, rawLines } from '../../lib/runData';
import { Pager } from './Pager';

export function RawJson({ value, label, testId }: { value: JsonValue | undefined; label: string; testId?: string }) {
  const lines = useMemo(() => rawLines(value), [value]);
  const [page, setPage] = useState(0);
  const b = pageBounds(lines.length, page, RAW_PAGE_LINES);
  return (
    <div data-testid={testId}>
      <pre className="json data-raw" tabIndex={0} aria-label={`${label} as JSON text`}>
        {lines.slice(b.start, b.end).join('\n')}
      </pre>
      <div className="data-foot">
        <span className="muted small">
          lines {lines.length ? b.start + 1 : 0}–{b.end} of {lines.length}
        </span>
        <Pager page={b.page} pages={b.pages} onPage={setPage} label={`lines of ${label}`} testId={testId && `${testId}-pager`} />
      </div>
    </div>
  );
}
