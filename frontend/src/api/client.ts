/**
 * The one HTTP client of the editor: API base URL, session cookie + CSRF header on unsafe
 * requests, and the contract's error body turned into an ApiError the UI can draw.
 */
import type { ApiErrorBody, ApiFieldError } from './types';

const rawBase: string = (import.meta.env.REACT_APP_API_URL as string | undefined) ?? '';
/** API base without a trailing slash; same-origin `/api` unless REACT_APP_API_URL says otherwise. */
export const API_BASE = (rawBase.trim() || '/api').replace(/\/+$/, '');

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly errors: ApiFieldError[];
  constructor(status: number, body: Partial<ApiErrorBody> | null, fallback: string) {
    super(body?.detail || fallback);
    this.status = status;
    this.type = body?.type ?? (status === 0 ? 'network_error' : 'server_error');
    this.errors = Array.isArray(body?.errors) ? body!.errors! : [];
  }
  get isAuth(): boolean {
    return this.status === 401 || this.type === 'not_authenticated' || this.type === 'authentication_failed';
  }
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Resolves a path (`/schemas/`) or a full URL from the API (pagination links) to a request URL. */
export function apiUrl(pathOrUrl: string): string {
  if (/^https?:\/\//.test(pathOrUrl)) {
    // Pagination links carry the backend's idea of its host; keep only path + query so the
    // request stays on our origin (dev proxy, same-origin cookies).
    const u = new URL(pathOrUrl);
    const basePath = new URL(API_BASE, window.location.origin).pathname.replace(/\/+$/, '');
    const rel = u.pathname.startsWith(basePath) ? u.pathname.slice(basePath.length) : u.pathname;
    return `${API_BASE}${rel}${u.search}`;
  }
  return `${API_BASE}${pathOrUrl.startsWith('/') ? '' : '/'}${pathOrUrl}`;
}

async function ensureCsrf(): Promise<string | null> {
  let token = readCookie('csrftoken');
  if (!token) {
    await fetch(apiUrl('/auth/csrf/'), { credentials: 'same-origin' });
    token = readCookie('csrftoken');
  }
  return token;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE.has(method)) {
    const token = await ensureCsrf();
    if (token) headers['X-CSRFToken'] = token;
  }
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, null, `Network error: ${(e as Error).message}`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    throw new ApiError(res.status, data as Partial<ApiErrorBody> | null, `${res.status} ${res.statusText}`);
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const put = <T>(path: string, body: unknown) => api<T>('PUT', path, body);
export const del = (path: string) => api<void>('DELETE', path);

/** Lists may come paginated ({results}) or bare; the UI only needs the items. */
export function itemsOf<T>(data: T[] | { results: T[] } | null | undefined): T[] {
  if (!data) return [];
  return Array.isArray(data) ? data : data.results;
}
