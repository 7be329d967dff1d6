/** Lists API validation errors (node/edge/path + message) or a plain error. */
import { ApiError } from '../api/client';
import type { ApiFieldError } from '../api/types';

export function ErrorList({ errors, testId = 'api-errors' }: { errors: ApiFieldError[]; testId?: string }) {
  if (!errors.length) return null;
  return (
    <ul className="error-list" data-testid={testId} role="alert">
      {errors.map((e, i) => (
        <li key={i}>
          {(e.node_id || e.edge_id || e.path) && (
            <span className="mono error-where">{e.node_id ? `node ${e.node_id}` : e.edge_id ? `edge ${e.edge_id}` : e.path}</span>
          )}{' '}
          {e.message}
          {e.path && (e.node_id || e.edge_id) && <span className="muted mono"> ({e.path})</span>}
        </li>
      ))}
    </ul>
  );
}

export function ErrorBanner({ error, testId = 'error-banner' }: { error: unknown; testId?: string }) {
  if (!error) return null;
  const e = error as Error;
  return (
    <div className="banner banner-error" role="alert" data-testid={testId}>
      <strong>{e.message}</strong>
      {error instanceof ApiError && <ErrorList errors={error.errors} />}
    </div>
  );
}
