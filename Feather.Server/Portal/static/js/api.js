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

/**
 * Streams one file into a run (uploadRunFile: the body is the file, never base64), reporting progress as
 * onProgress(sentBytes, totalBytes). XMLHttpRequest, as fetch() cannot report upload progress. Resolves to the
 * server's reference { id, name, mediaType, size, url }; an error answer rejects with ApiError.
 */
export function uploadFile(runId, file, { name = file.name, mediaType = file.type, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(ROUTES.uploadRunFile.method, `${path('uploadRunFile', { runId })}?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', mediaType || 'application/octet-stream');
    const s = session.get();
    if (s?.csrf) xhr.setRequestHeader(s.csrfHeader || 'X-CSRF-TOKEN', s.csrf);
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { data = { detail: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: `cannot reach the server while sending ${name}` }));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

let limits = null;
/**
 * The server's limits on step files (getLimits: { maxStepFileBytes, maxStepBytes }), asked once; null when the
 * server cannot say (the server still checks every file).
 */
export async function stepLimits() {
  if (!limits) limits = call('getLimits').then((r) => r.data).catch(() => { limits = null; return null; });
  return limits;
}
