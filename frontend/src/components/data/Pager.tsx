/** Previous / next buttons for one paged list (tree children, table rows, raw lines). */
export function Pager({
  page,
  pages,
  onPage,
  label,
  testId,
}: {
  page: number;
  pages: number;
  onPage: (page: number) => void;
  /** What is paged, for screen readers: "rows", "items of input.orders". */
  label: string;
  testId?: string;
}) {
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={`Pages of ${label}`} data-testid={testId}>
      <button type="button" className="btn btn-small" disabled={page === 0} onClick={() => onPage(page - 1)} aria-label={`Previous page of ${label}`}>
        ‹
      </button>
      <span className="muted small">
        page {page + 1} of {pages}
      </span>
      <button
        type="button"
        className="btn btn-small"
        disabled={page >= pages - 1}
        onClick={() => onPage(page + 1)}
        aria-label={`Next page of ${label}`}
      >
        ›
      </button>
    </nav>
  );
}
