// The Feather portal: a small router over the History API and the pages it shows.
import { get, api, call, session, ApiError, enc } from './api.js';
import { path as apiPath } from './contract.js';
import { h, clear, errorBox } from './dom.js';

const main = document.getElementById('main');
const nav = document.getElementById('site-nav');
let pageController = null; // aborted when the page is left (stops polling)

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  route();
}

/** Links inside the app navigate without a reload. */
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || /^\/(api|openapi|healthz)(\/|$)/.test(url.pathname)) return;
  if (document.body.classList.contains('embed')) return;
  e.preventDefault();
  if (url.pathname === location.pathname && url.search === location.search && url.hash) { location.hash = url.hash; return; }
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', () => route());
window.addEventListener('feather:signedout', () => renderNav());

export function setTitle(title) { document.title = title ? `${title} · Feather` : 'Feather'; }

function renderNav() {
  const s = session.get();
  clear(nav, h('ul', {},
    h('li', {}, h('a', { href: '/' }, 'Models')),
    h('li', {}, h('a', { href: '/datasets' }, 'Datasets')),
    h('li', {}, h('a', { href: '/leaderboards' }, 'Leaderboards')),
    s ? [
      h('li', {}, h('a', { href: '/me/models' }, 'My models')),
      h('li', {}, h('a', { href: '/me/tokens' }, 'API tokens')),
      h('li', {}, h('a', { href: '/me/teams' }, 'Teams')),
      h('li', {}, h('a', { href: '/me/usage' }, 'Usage')),
      h('li', {}, h('button.link', { type: 'button', onclick: signOut }, `Sign out ${s.username}`)),
    ] : h('li', {}, h('a', { href: `/login?next=${enc(location.pathname)}` }, 'Sign in'))));
}

async function signOut() {
  try { await call('logout'); } catch { /* the session may already be gone; forget it anyway */ }
  session.clear();
  renderNav();
  navigate('/');
}

const routes = [
  [/^\/$/, () => import('./catalogue.js').then((m) => m.catalogue)],
  [/^\/owners\/([^/]+)$/, () => import('./catalogue.js').then((m) => m.catalogue)],
  [/^\/models\/([^/]+)\/([^/]+)$/, () => import('./model.js').then((m) => m.modelPage)],
  [/^\/datasets$/, () => import('./datasets.js').then((m) => m.datasetList)],
  [/^\/datasets\/([^/]+)\/([^/]+)$/, () => import('./datasets.js').then((m) => m.datasetPage)],
  [/^\/leaderboards$/, () => import('./leaderboards.js').then((m) => m.leaderboardList)],
  [/^\/leaderboards\/([^/]+)$/, () => import('./leaderboards.js').then((m) => m.leaderboardPage)],
  [/^\/runs\/([^/]+)$/, () => import('./model.js').then((m) => m.runPage)],
  [/^\/embed\/([^/]+)\/([^/]+)$/, () => import('./model.js').then((m) => m.embedPage)],
  [/^\/login$/, () => Promise.resolve(loginPage)],
  [/^\/me\/models$/, () => import('./manage.js').then((m) => m.myModels)],
  [/^\/me\/models\/([^/]+)\/([^/]+)$/, () => import('./manage.js').then((m) => m.manageModel)],
  [/^\/me\/tokens$/, () => import('./manage.js').then((m) => m.tokensPage)],
  [/^\/me\/teams$/, () => import('./manage.js').then((m) => m.teamsPage)],
  [/^\/me\/usage$/, () => import('./usage.js').then((m) => m.usagePage)],
];

export async function route() {
  pageController?.abort();
  pageController = new AbortController();
  const { signal } = pageController;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const embed = path.startsWith('/embed/');
  document.body.classList.toggle('embed', embed);
  if (!embed) renderNav();
  for (const [pattern, load] of routes) {
    const m = path.match(pattern);
    if (!m) continue;
    const params = m.slice(1).map(decodeURIComponent);
    try {
      const page = await load();
      if (signal.aborted) return;
      await page(main, params, { signal, query: new URLSearchParams(location.search) });
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.status === 401) {
        navigate(`/login?next=${enc(location.pathname + location.search)}`, { replace: true });
        return;
      }
      clear(main, h('h1', {}, 'Something went wrong'), errorBox(e));
    }
    if (!signal.aborted && !location.hash) main.focus({ preventScroll: true });
    return;
  }
  setTitle('Not found');
  clear(main, h('h1', {}, 'Page not found'), h('p', {}, 'No page at ', h('code', {}, location.pathname), '. ', h('a', { href: '/' }, 'See all models'), '.'));
}

function loginPage(root, params, { query }) {
  setTitle('Sign in');
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.card.narrow', {
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      clear(status);
      try {
        const { data } = await call('login', {}, { username: user.value.trim(), password: pass.value });
        // the antiforgery token is tied to the signed-in user, so it is asked for after signing in
        const csrf = await get(apiPath('antiforgery'));
        session.set({ username: data.username, isAdmin: !!data.isAdmin, csrf: csrf.token, csrfHeader: csrf.headerName });
        try {
          const me = await get(apiPath('me'));
          session.set({ ...session.get(), teams: me.teams || [] });
        } catch { /* the nav works without the teams */ }
        const next = query.get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') && next !== '/login' ? next : '/me/models', { replace: true });
      } catch (err) {
        button.disabled = false;
        clear(status, errorBox(err.status === 401 ? 'Wrong username or password.' : err));
        pass.focus();
      }
    },
  },
  h('h1', {}, 'Sign in'),
  h('p.hint', {}, 'You stay signed in for 12 hours of use, or until you sign out.'),
  h('div.form-row', {}, h('label', { for: 'login-user' }, 'Username'), user),
  h('div.form-row', {}, h('label', { for: 'login-pass' }, 'Password'), pass),
  status, h('div.actions', {}, button));
  clear(root, form);
  user.focus();
}

route();
