// The HTTP API client of the portal: JSON in and out, RFC 7807 problems turned into ApiError.
// A signed-in user has the server's HttpOnly session cookie (the script never sees it); unsafe
// calls carry the antiforgery token the server gave at sign-in. sessionStorage keeps only who is
// signed in (for the navigation) and that antiforgery token.
const SESSION_KEY = 'feather.session';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** The input a problem names (problem.input, or the only key of problem.errors). */
  get input() {
    if (this.problem.input) return this.problem.input;
    const keys = Object.keys(this.problem.errors || {});
    return keys.length === 1 ? keys[0] : null;
  }
}

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch { return null; }
  },
  set(value) { sessionStorage.setItem(SESSION_KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(SESSION_KEY); },
};

export async function api(method, path, body, { headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, signal, credentials: 'same-origin' };
  const s = session.get();
  if (s?.csrf && UNSAFE.has(method)) init.headers[s.csrfHeader || 'X-CSRF-TOKEN'] = s.csrf;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { detail: `cannot reach the server (${e.message})` });
  }
  if (response.status === 401 && s) {
    // The session expired or was signed out elsewhere: forget it, the user signs in again.
    session.clear();
    window.dispatchEvent(new CustomEvent('feather:signedout'));
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

export const get = async (path, opts) => (await api('GET', path, undefined, opts)).data;

/**
 * Tries routes in order and returns the first answer that is not 404/405 "no such route":
 * the server's routes and docs/contracts.md have differed while both were being written.
 */
export async function firstRoute(calls) {
  let last;
  for (const call of calls) {
    try {
      return await call();
    } catch (e) {
      last = e;
      const detail = e instanceof ApiError ? (e.problem?.detail || '') : null;
      const routeMissing = e instanceof ApiError && (e.status === 405 || (e.status === 404 && (!detail || detail.startsWith('no route'))));
      if (!routeMissing) throw e;
    }
  }
  throw last;
}

export const enc = encodeURIComponent;
export const modelPath = (owner, name) => `/api/models/${enc(owner)}/${enc(name)}`;
