// Datasets: /datasets (the ones the visitor can see, filtered by task) and /datasets/{owner}/{name}
// (what the dataset is, its fields with the labels marked, a preview of records with image
// thumbnails served by the dataset file route, and its versions).
import { get, enc } from './api.js';
import { path } from './contract.js';
import { h, clear, formatDate, plural } from './dom.js';
import { setTitle } from './app.js';

const TASKS = ['image-classification', 'text-classification', 'regression', 'question-answering', 'text-generation'];

export async function datasetList(root, params, { signal, query }) {
  setTitle('Datasets');
  const datasets = await get(path('listDatasets'), { signal });
  const task = h('select', { id: 'ds-task' }, h('option', { value: '' }, 'Any'),
    TASKS.map((t) => h('option', { value: t, selected: t === query.get('task') }, t)));
  const count = h('p.hint', { role: 'status', 'aria-live': 'polite' });
  const list = h('ul.cards', { 'aria-label': 'Datasets' });
  const apply = () => {
    const shown = datasets.filter((d) => !task.value || d.task === task.value);
    count.textContent = `${shown.length} of ${plural(datasets.length, 'dataset')}`;
    clear(list, shown.length ? shown.map(card)
      : h('li.empty', {}, datasets.length ? 'No dataset of this task.' : 'No datasets are published yet. Publish one with “feather datasets publish DIR”.'));
    history.replaceState(null, '', location.pathname + (task.value ? `?task=${enc(task.value)}` : ''));
  };
  task.addEventListener('change', apply);
  clear(root,
    h('h1', {}, 'Datasets'),
    h('p.lead', {}, 'Held-out data to evaluate models on. Models are only ever given the input fields; the labels stay with the scorer.'),
    h('form.filters', { role: 'search', 'aria-label': 'Filter datasets', onsubmit: (e) => e.preventDefault() },
      h('div.form-row', {}, h('label', { for: 'ds-task' }, 'Task'), task)),
    count, list);
  apply();
}

function card(d) {
  return h('li', {}, h('article.card.model-card', {},
    h('h2', {}, h('a', { href: `/datasets/${enc(d.owner)}/${enc(d.name)}` }, d.title || `${d.owner}/${d.name}`)),
    d.title ? h('p.meta', {}, `${d.owner}/${d.name}`) : null,
    h('p', {}, d.description || 'No description.'),
    h('p.meta', {}, `${d.task} · ${plural(d.recordCount, 'record')} · version ${d.latestVersion}`,
      d.split === 'train' ? h('span.badge', { title: 'Training data: used to fine-tune, never evaluated automatically' }, 'train') : null,
      d.visibility !== 'public' ? h('span.badge', {}, d.visibility) : null)));
}

export async function datasetPage(root, [owner, name], { signal }) {
  const d = await get(path('getDataset', { owner, dataset: name }), { signal });
  setTitle(d.title || `${owner}/${name}`);
  const version = d.latestVersion;
  const fileUrl = (p) => `${path('getDatasetFile', { owner, dataset: name, number: version })}?path=${enc(p)}`;

  const cell = (field, value) => {
    if (value === undefined || value === null) return h('td', {}, '–');
    if (field.type === 'image') {
      return h('td', {}, h('a', { href: fileUrl(value), target: '_blank', rel: 'noopener' },
        h('img.thumb', { src: fileUrl(value), alt: `${field.name}: ${value}`, loading: 'lazy', width: 64, height: 64 })));
    }
    if (field.type === 'file') return h('td', {}, h('a', { href: fileUrl(value), download: '' }, String(value)));
    const text = String(value);
    return h('td', {}, text.length > 200 ? `${text.slice(0, 197)}…` : text);
  };

  clear(root,
    h('header.model-header', {},
      h('p.crumbs', {}, h('a', { href: '/datasets' }, 'Datasets'), ' / ', owner),
      h('h1', {}, d.title || `${owner}/${name}`),
      d.title ? h('p.meta', {}, `${owner}/${name}`) : null,
      h('p.lead', {}, d.description || 'No description.'),
      h('dl.facts', {},
        h('dt', {}, 'Task'), h('dd', {}, h('a', { href: `/datasets?task=${enc(d.task)}` }, d.task), ' · ',
          h('a', { href: `/leaderboards/${enc(d.task)}?dataset=${enc(`${owner}/${name}`)}` }, 'leaderboard')),
        h('dt', {}, 'Split'), h('dd', {}, d.split === 'train'
          ? 'train: for fine-tuning; never evaluated automatically'
          : 'test: held out; evaluated automatically and ranked on leaderboards'),
        h('dt', {}, 'Records'), h('dd', {}, String(d.recordCount)),
        h('dt', {}, 'Latest version'), h('dd', {}, String(version)),
        h('dt', {}, 'Visibility'), h('dd', {}, d.visibility),
        h('dt', {}, 'Licence'), h('dd', {}, d.licence || '–'),
        h('dt', {}, 'Citation'), h('dd', {}, d.citation ? h('cite', {}, d.citation) : '–'))),
    h('section', { 'aria-labelledby': 'ds-fields' },
      h('h2', { id: 'ds-fields' }, 'Fields'),
      h('p.hint', {}, 'A model evaluated on this dataset is given only the input fields; label fields stay with the scorer.'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Field'), h('th', {}, 'Type'), h('th', {}, 'Role'), h('th', {}, 'Classes'))),
        h('tbody', {}, d.fields.map((f) => h('tr', {},
          h('td', {}, h('code', {}, f.name), f.description ? h('div.hint', {}, f.description) : null),
          h('td', {}, f.type),
          h('td', {}, f.role === 'label' ? h('span.badge.label-badge', {}, 'label') : 'input'),
          h('td', {}, (f.classes || []).join(', ') || '–')))))),
    h('section', { 'aria-labelledby': 'ds-preview' },
      h('h2', { id: 'ds-preview' }, 'Preview'),
      h('p.hint', {}, `The first ${plural(d.examples.length, 'record')} of version ${version}.`),
      h('div.table-scroll', {}, h('table.records', {},
        h('thead', {}, h('tr', {}, d.fields.map((f) => h('th', { scope: 'col' }, f.name, f.role === 'label' ? ' (label)' : '')))),
        h('tbody', {}, d.examples.map((r) => h('tr', {}, d.fields.map((f) => cell(f, r[f.name])))))))),
    h('section', { 'aria-labelledby': 'ds-versions' },
      h('h2', { id: 'ds-versions' }, 'Versions'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Version'), h('th', {}, 'Published'), h('th', {}, 'By'), h('th', {}, 'Records'), h('th', {}, 'Notes'))),
        h('tbody', {}, d.versions.map((v) => h('tr', {},
          h('td', {}, String(v.number)), h('td', {}, formatDate(v.createdAt)), h('td', {}, v.publisher),
          h('td', {}, String(v.recordCount)), h('td', {}, v.notes || '')))))));
}
