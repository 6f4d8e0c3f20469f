// The catalogue: public models (and the signed-in user's own and their teams'), searchable and
// filtered by task and dataset; /owners/{owner} shows one owner's models.
import { get, enc } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox } from './dom.js';
import { setTitle } from './app.js';

export async function catalogue(root, [owner], { signal, query }) {
  setTitle(owner ? `Models of ${owner}` : 'Models');
  const models = await get(owner ? `${path('listModels')}?owner=${enc(owner)}` : path('listModels'), { signal });
  const tasks = [...new Set(models.flatMap((m) => m.tags?.task || []))].sort();
  const datasets = [...new Set(models.flatMap((m) => m.tags?.dataset || []))].sort();

  const search = h('input', { id: 'cat-q', type: 'search', value: query.get('q') || '', placeholder: 'name, description or tag', autocomplete: 'off' });
  const select = (id, label, values, current) => [h('label', { for: id }, label),
    h('select', { id }, h('option', { value: '' }, 'Any'), values.map((v) => h('option', { value: v, selected: v === current }, v)))];
  const [taskLabel, task] = select('cat-task', 'Task', tasks, query.get('task'));
  const [datasetLabel, dataset] = select('cat-dataset', 'Dataset', datasets, query.get('dataset'));
  const count = h('p.hint', { role: 'status', 'aria-live': 'polite' });
  const list = h('ul.cards', { 'aria-label': 'Models' });

  const apply = () => {
    const q = search.value.trim().toLowerCase();
    const shown = models.filter((m) => (!task.value || m.tags?.task?.includes(task.value)) &&
      (!dataset.value || m.tags?.dataset?.includes(dataset.value)) &&
      (!q || [m.name, m.title, m.owner, m.description, ...(m.tags?.task || []), ...(m.tags?.dataset || [])].some((x) => (x || '').toLowerCase().includes(q))));
    count.textContent = `${shown.length} of ${models.length} model${models.length === 1 ? '' : 's'}`;
    clear(list, shown.length ? shown.map(card) : h('li.empty', {}, models.length ? 'No model matches.' : 'No models are published yet. Publish one with “feather publish”.'));
    const params = new URLSearchParams();
    if (search.value.trim()) params.set('q', search.value.trim());
    if (task.value) params.set('task', task.value);
    if (dataset.value) params.set('dataset', dataset.value);
    const qs = params.toString();
    history.replaceState(null, '', location.pathname + (qs ? `?${qs}` : ''));
  };
  search.addEventListener('input', apply);
  task.addEventListener('change', apply);
  dataset.addEventListener('change', apply);

  clear(root,
    h('h1', {}, owner ? `Models of ${owner}` : 'Models'),
    owner ? h('p', {}, h('a', { href: '/' }, 'All models')) : h('p.lead', {}, 'Run published models step by step in your browser, or call them from your code.'),
    h('form.filters', { role: 'search', 'aria-label': 'Find models', onsubmit: (e) => e.preventDefault() },
      h('div.form-row.grow', {}, h('label', { for: 'cat-q' }, 'Search models'), search),
      h('div.form-row', {}, taskLabel, task),
      h('div.form-row', {}, datasetLabel, dataset)),
    count, list);
  apply();
}

function card(m) {
  return h('li', {}, h('article.card.model-card', {},
    h('h2', {}, h('a', { href: `/models/${enc(m.owner)}/${enc(m.name)}` }, m.title || `${m.owner}/${m.name}`)),
    m.title ? h('p.meta', {}, `${m.owner}/${m.name}`) : null,
    h('p', {}, m.description || 'No description.'),
    h('p.meta', {},
      m.liveVersion ? `live version ${m.liveVersion}` : 'no live version',
      m.visibility && m.visibility !== 'public' ? h('span.badge', {}, m.visibility) : null),
    tagList(m.tags)));
}

export function tagList(tags) {
  const all = [...(tags?.task || []).map((t) => ['task', t]), ...(tags?.dataset || []).map((t) => ['dataset', t])];
  if (!all.length) return null;
  return h('ul.tags', { 'aria-label': 'Tags' }, all.map(([kind, t]) => h('li', {}, h('a.tag', { href: `/?${kind}=${enc(t)}`, 'aria-label': `${kind} ${t}` }, t))));
}

export { errorBox };
