import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from './client';
import { fetchMe } from './hooks';

/** Answers every request with `status` and `body`, and records the URLs asked. */
function answer(status: number, body: unknown) {
  const asked: string[] = [];
  vi.stubGlobal('fetch', async (url: string) => {
    asked.push(url);
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
  return asked;
}

afterEach(() => vi.unstubAllGlobals());

describe('who is signed in', () => {
  it('a signed-out first load gets no user, from a request that does not fail (no 401 in the console)', async () => {
    const asked = answer(200, { authenticated: false, user: null });
    await expect(fetchMe()).resolves.toBeNull();
    expect(asked).toEqual(['/api/auth/session/']);
  });

  it('a signed-in one gets the user', async () => {
    const user = { id: '1b0c6a6e-0000-4000-8000-000000000000', email: 'ana@example.com', is_staff: false };
    answer(200, { authenticated: true, user });
    await expect(fetchMe()).resolves.toEqual(user);
  });

  it('a refused credential is still an auth error (the app sends the user to sign in)', async () => {
    answer(401, { type: 'authentication_failed', detail: 'Invalid token.', errors: [] });
    const err = await fetchMe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).isAuth).toBe(true);
  });
});
