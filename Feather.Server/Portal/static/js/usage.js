// /me/usage: the signed-in user's usage (or a team's) per day and per profile, with their quotas.
import { get, session } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox, formatDate } from './dom.js';
import { setTitle } from './app.js';
import { chart } from './charts.js';

const n = (x) => (Number.isInteger(x) ? String(x) : Number(x).toFixed(2));

export async function usagePage(root, params, { signal, query }) {
  setTitle('Usage');
  const me = session.get();
  if (!me) { clear(root, h('h1', {}, 'Usage'), h('p', {}, h('a', { href: '/login?next=/me/usage' }, 'Sign in'), ' to see your usage.')); return; }
  const team = query.get('team');
  let teams = [];
  try { teams = (await get(path('me'), { signal })).teams || []; } catch { /* only the user's own usage then */ }
  const subject = h('select', { id: 'usage-subject' }, h('option', { value: '' }, `You (${me.username})`),
    teams.map((t) => h('option', { value: t, selected: t === team || undefined }, `Team ${t}`)));
  subject.addEventListener('change', () => {
    const url = subject.value ? `/me/usage?team=${encodeURIComponent(subject.value)}` : '/me/usage';
    history.replaceState(null, '', url);
    usagePage(root, params, { signal, query: new URL(url, location.href).searchParams });
  });
  let usage;
  try {
    usage = await get(path('getUsage') + (team ? `?team=${encodeURIComponent(team)}` : ''), { signal });
  } catch (e) {
    clear(root, h('h1', {}, 'Usage'), errorBox(e));
    return;
  }
  const perDay = h('div');
  const perProfile = h('div');
  const table = (rows, title) => h('table', {},
    h('thead', {}, h('tr', {}, [title, 'Steps', 'Failed', 'Seconds', 'GPU seconds', 'Cost'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, [...rows, { ...usage.totals, key: 'Total' }].map((r) => h('tr', {},
      h('th', { scope: 'row' }, r.key), h('td', {}, n(r.steps)), h('td', {}, n(r.failed)), h('td', {}, n(r.seconds)),
      h('td', {}, n(r.gpuSeconds)), h('td', {}, n(r.cost))))));
  clear(root, h('h1', {}, 'Usage'),
    h('p', {}, h('label', { for: 'usage-subject' }, 'Whose usage '), subject,
      ` · from ${formatDate(usage.from)} to ${formatDate(usage.to)}`),
    h('h2', {}, 'Quotas'),
    usage.quotas.length ? h('table.quotas', {},
      h('thead', {}, h('tr', {}, ['Quota', 'Used', 'Limit', 'Resets'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, usage.quotas.map((q) => h('tr', { class: q.used >= q.limit ? 'drifted' : '' },
        h('th', { scope: 'row' }, q.quota), h('td', {}, n(q.used)), h('td', {}, n(q.limit)), h('td', {}, q.resetsAt ? formatDate(q.resetsAt) : '—')))))
      : h('p', {}, 'No quota limits you.'),
    h('h2', {}, 'Per day'), perDay, table(usage.byDay, 'Day'),
    h('h2', {}, 'Per profile'), perProfile, table(usage.byProfile, 'Profile'),
    h('h2', {}, 'Per model'), table(usage.byModel, 'Model'));
  if (usage.byDay.length) {
    await chart(perDay, 'Steps and seconds per day', {
      type: 'bar',
      data: {
        labels: usage.byDay.map((d) => d.key),
        datasets: [{ label: 'steps', data: usage.byDay.map((d) => d.steps) },
          { type: 'line', label: 'seconds', yAxisID: 'seconds', data: usage.byDay.map((d) => d.seconds) }],
      },
      options: { scales: { y: { beginAtZero: true }, seconds: { position: 'right', beginAtZero: true } } },
    });
    await chart(perProfile, 'Seconds and cost per profile', {
      type: 'bar',
      data: {
        labels: usage.byProfile.map((p) => p.key),
        datasets: [{ label: 'seconds', data: usage.byProfile.map((p) => p.seconds) }, { label: 'cost', data: usage.byProfile.map((p) => p.cost) }],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
  }
}
