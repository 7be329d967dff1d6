/** Sign in with the Django session: fetch the CSRF cookie, then POST email + password. */
import { useState, type FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { get, post } from '../api/client';
import { keys } from '../api/hooks';
import type { User } from '../api/types';
import { Field } from '../components/Field';

export function LoginPage() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const qc = useQueryClient();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await get('/auth/csrf/');
      const user = await post<User>('/auth/login/', { email, password });
      qc.clear();
      qc.setQueryData(keys.me, user);
      const next = params.get('next');
      void navigate(next && next.startsWith('/') && !next.startsWith('/login') ? next : '/schemas', { replace: true });
    } catch (err) {
      setError((err as Error).message || 'Sign-in failed');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login-wrap">
      <form className="login-card" onSubmit={submit} aria-labelledby="login-title" data-testid="login-form">
        <h1 id="login-title">
          <span aria-hidden="true">◇</span> Sign in to Schema
        </h1>
        <Field id="login-email" label="Email">
          {(control) => (
            <input
              {...control}
              type="email"
              autoComplete="username"
              required
              value={email}
              data-testid="login-email"
              onChange={(e) => setEmail(e.target.value)}
            />
          )}
        </Field>
        <Field id="login-password" label="Password">
          {(control) => (
            <input
              {...control}
              type="password"
              autoComplete="current-password"
              required
              value={password}
              data-testid="login-password"
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {error && (
          <p className="form-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
