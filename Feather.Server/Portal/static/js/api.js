// The HTTP API client of the portal: JSON in and out, RFC 7807 problems turned into ApiError.
// A signed-in user has the server's HttpOnly session cookie (the script never sees it); unsafe
// calls carry the antiforgery token the server gave at sign-in. sessionStorage keeps only who is
// signed in (for the navigation) and that antiforgery token.
import { ROUTES, path } from './contract.js';

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
 * One call by its operation id in the server's contract (contract.js, generated from docs/openapi.json):
 * call('cancelStep', { runId, index }). Answers { status, data } like api().
 */
export const call = (operation, params, body, opts) => api(ROUTES[operation].method, path(operation, params), body, opts);

export const enc = encodeURIComponent;
export const modelPath = (owner, model) => path('getModel', { owner, model });
