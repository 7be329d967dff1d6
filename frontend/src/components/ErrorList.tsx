/** Lists API validation errors (node/edge/path + message) or a plain error; nodes by the names users gave them. */
import { ApiError } from '../api/client';
import type { ApiFieldError } from '../api/types';
import { withNodeNames } from '../lib/nodeNames';
import { useNodeNames } from './NodeNamesContext';

export function ErrorList({ errors, testId = 'api-errors' }: { errors: ApiFieldError[]; testId?: string }) {
  const { nameOf, edgeLabel } = useNodeNames();
  if (!errors.length) return null;
  return (
    <ul className="error-list" data-testid={testId} role="alert">
      {errors.map((e, i) => (
        <li key={i}>
          {(e.node_id || e.edge_id || e.path) && (
            <span className="error-where">{e.node_id ? nameOf(e.node_id) : e.edge_id ? `connection ${edgeLabel(e.edge_id)}` : e.path}</span>
          )}{' '}
          {withNodeNames(e.message, nameOf)}
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
