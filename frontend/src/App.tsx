/** Routes, the query client, the signed-in shell and the auth guard. */
import { QueryClient, QueryClientProvider, QueryCache, MutationCache } from '@tanstack/react-query';
import { createBrowserRouter, Navigate, NavLink, Outlet, RouterProvider, useLocation, useNavigate } from 'react-router-dom';
import { ApiError, post } from './api/client';
import { useMe, keys } from './api/hooks';
import { LoginPage } from './pages/LoginPage';
import { SchemaListPage } from './pages/SchemaListPage';
import { EditorPage } from './pages/EditorPage';
import { ExecutionsPage } from './pages/ExecutionsPage';
import { ExecutionPage } from './pages/ExecutionPage';
import { CredentialsPage } from './pages/CredentialsPage';
import { VariablesPage } from './pages/VariablesPage';

function onAuthLost(err: unknown) {
  if (err instanceof ApiError && (err.isAuth || (err.status === 403 && err.type === 'not_authenticated'))) {
    if (!window.location.pathname.startsWith('/login')) {
      void router.navigate(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    }
  }
}

export const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError: onAuthLost }),
  mutationCache: new MutationCache({ onError: onAuthLost }),
  defaultOptions: {
    queries: {
      retry: (n, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && n < 2,
      refetchOnWindowFocus: false,
    },
  },
});

function RequireAuth() {
  const me = useMe();
  const loc = useLocation();
  const toLogin = <Navigate to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  if (me.isPending) return <div className="page-loading" role="status">Loading…</div>;
  // Signed out: the session says so (no user); a refused token or session is an error of the same meaning.
  if (me.isSuccess && !me.data) return toLogin;
  if (me.isError) {
    const e = me.error;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return toLogin;
    return (
      <div className="page-loading" role="alert">
        Cannot reach the API: {e.message}
      </div>
    );
  }
  return <Outlet />;
}

function Shell() {
  const me = useMe();
  const navigate = useNavigate();
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="/schemas" onClick={(e) => (e.preventDefault(), navigate('/schemas'))}>
          <span aria-hidden="true">◇</span> Schema
        </a>
        <nav aria-label="Main">
          <NavLink to="/schemas" data-testid="nav-schemas">
            Schemas
          </NavLink>
          <NavLink to="/executions" data-testid="nav-executions">
            Executions
          </NavLink>
          <NavLink to="/credentials" data-testid="nav-credentials">
            Credentials
          </NavLink>
          <NavLink to="/variables" data-testid="nav-variables">
            Variables
          </NavLink>
        </nav>
        <div className="topbar-right">
          <span className="muted" data-testid="current-user">
            {me.data?.email}
          </span>
          <button
            type="button"
            className="btn btn-ghost"
            data-testid="logout"
            onClick={async () => {
              try {
                await post('/auth/logout/');
              } finally {
                queryClient.removeQueries({ queryKey: keys.me });
                queryClient.clear();
                void navigate('/login');
              }
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main className="main">
        <Outlet />
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        <NavLink to="/schemas">Back to schemas</NavLink>
      </p>
    </div>
  );
}

export const router = createBrowserRouter([
  { path: '/login', element: <LoginPage /> },
  {
    element: <RequireAuth />,
    children: [
      {
        element: <Shell />,
        children: [
          { path: '/', element: <Navigate to="/schemas" replace /> },
          { path: '/schemas', element: <SchemaListPage /> },
          { path: '/schemas/:id', element: <EditorPage /> },
          { path: '/executions', element: <ExecutionsPage /> },
          { path: '/executions/:id', element: <ExecutionPage /> },
          { path: '/credentials', element: <CredentialsPage /> },
          { path: '/variables', element: <VariablesPage /> },
          { path: '*', element: <NotFound /> },
        ],
      },
    ],
  },
]);

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
