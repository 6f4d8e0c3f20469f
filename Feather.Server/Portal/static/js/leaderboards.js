// Leaderboards: /leaderboards (every board the visitor can see, with its leader) and
// /leaderboards/{task}?dataset=OWNER/NAME&version=N&versions=all (one board: the models ranked by
// the task's primary metric, every scalar metric, and a chart of each model's score over its
// versions, drawn with the vendored Chart.js). The model page's "Scores" tab is scoresPanel().
import { get, enc, ApiError } from './api.js';
import { path } from './contract.js';
import { h, clear, formatDate, plural } from './dom.js';
import { setTitle, navigate } from './app.js';

const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(4)) : '–');
const metricName = (m) => m.replace(/_/g, ' ');
const modelHref = (e) => `/models/${enc(e.owner)}/${enc(e.model)}`;
const boardHref = (b) => `/leaderboards/${enc(b.task)}?dataset=${enc(`${b.datasetOwner}/${b.dataset}`)}&version=${b.datasetVersion}`;

export async function leaderboardList(root, params, { signal }) {
  setTitle('Leaderboards');
  const boards = await get(path('listLeaderboards'), { signal });
  clear(root,
    h('h1', {}, 'Leaderboards'),
    h('p.lead', {}, 'Models of a task scored on the same held-out dataset version, ranked by the task’s primary metric. ',
      'Evaluations run by themselves when a model or a dataset of its task is published.'),
    boards.length ? h('table', { id: 'boards' },
      h('caption.offscreen', {}, 'Leaderboards'),
      h('thead', {}, h('tr', {}, ['Task', 'Dataset', 'Models', 'Leader', 'Updated'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, boards.map((b) => h('tr', {},
        h('td', {}, h('a', { href: boardHref(b) }, b.task)),
        h('td', {}, h('a', { href: `/datasets/${enc(b.datasetOwner)}/${enc(b.dataset)}` }, b.datasetTitle || `${b.datasetOwner}/${b.dataset}`),
          ` · version ${b.datasetVersion}`),
        h('td', {}, String(b.models)),
        h('td', {}, b.leader ? [h('a', { href: modelHref(b.leader) }, `${b.leader.owner}/${b.leader.model}`),
          ` · ${metricName(b.primaryMetric)} ${fmt(b.leader.score)}`] : '–'),
        h('td', {}, formatDate(b.updatedAt))))))
      : h('p.empty', {}, 'No model has been evaluated on a dataset you can see yet. Publish a dataset with “feather datasets publish DIR” and a model that declares how it predicts.'));
}

export async function leaderboardPage(root, [task], { signal, query }) {
  setTitle(`${task} leaderboard`);
  const dataset = query.get('dataset');
  const version = query.get('version');
  const all = query.get('versions') === 'all';
  const url = (versions) => {
    const q = new URLSearchParams();
    if (dataset) q.set('dataset', dataset);
    if (version) q.set('datasetVersion', version);
    if (versions === 'all') q.set('versions', 'all');
    const s = q.toString();
    return path('getLeaderboard', { task }) + (s ? `?${s}` : '');
  };
  let board;
  try {
    board = await get(url(all ? 'all' : 'live'), { signal });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    clear(root, h('p.crumbs', {}, h('a', { href: '/leaderboards' }, 'Leaderboards'), ' / ', task),
      h('h1', {}, `${task} leaderboard`), h('p.empty', {}, e.message), h('p', {}, h('a', { href: '/leaderboards' }, 'See every leaderboard')));
    return;
  }
  // the chart always plots every version, whichever the table shows
  const history = all ? board : await get(url('all'), { signal });
  const primary = board.metrics.find((m) => m.primary) || board.metrics[0];
  const here = `${board.datasetOwner}/${board.dataset}`;

  const switcher = h('select', { id: 'lb-board', 'aria-label': 'Dataset version' },
    board.boards.map((b) => h('option', {
      value: boardHref(b), selected: b.datasetOwner === board.datasetOwner && b.dataset === board.dataset && b.datasetVersion === board.datasetVersion,
    }, `${b.datasetOwner}/${b.dataset} version ${b.datasetVersion} (${plural(b.models, 'model')})`)));
  switcher.addEventListener('change', () => navigate(switcher.value + (all ? '&versions=all' : '')));
  const allBox = h('input', { type: 'checkbox', id: 'lb-all', checked: all });
  allBox.addEventListener('change', () => {
    const q = new URLSearchParams({ dataset: here, version: String(board.datasetVersion) });
    if (allBox.checked) q.set('versions', 'all');
    navigate(`/leaderboards/${enc(task)}?${q}`);
  });

  const table = board.entries.length ? h('table.leaderboard', { id: 'leaderboard' },
    h('caption.offscreen', {}, `Models ranked by ${metricName(primary.name)}`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Rank'), h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Version'),
      board.metrics.map((m) => h('th', { scope: 'col', class: m.primary ? 'primary-metric' : null },
        m.title || metricName(m.name), h('span.hint', {}, m.higherIsBetter ? ' ↑' : ' ↓'))),
      h('th', { scope: 'col' }, 'Evaluated'))),
    h('tbody', {}, board.entries.map((e) => h('tr', { 'data-model': `${e.owner}/${e.model}` },
      h('td.rank', {}, String(e.rank)),
      h('td', {}, h('a', { href: modelHref(e) }, `${e.owner}/${e.model}`)),
      h('td', {}, String(e.version), e.live ? h('span.badge.status-succeeded', {}, 'live') : null),
      board.metrics.map((m) => h('td.num', {}, fmt(e.metrics[m.name]))),
      h('td', {}, formatDate(e.evaluatedAt)))))
  ) : h('p.empty', {}, all ? 'No evaluated versions.' : 'No live version has been evaluated on this dataset version; show every version.');

  const canvas = h('canvas', { id: 'lb-chart', role: 'img', 'aria-label': `${metricName(primary.name)} of each model over its versions` });
  clear(root,
    h('p.crumbs', {}, h('a', { href: '/leaderboards' }, 'Leaderboards'), ' / ', board.task),
    h('h1', {}, `${board.task} leaderboard`),
    h('p.lead', {}, 'On ', h('a', { href: `/datasets/${enc(board.datasetOwner)}/${enc(board.dataset)}` }, board.datasetTitle || here),
      ` version ${board.datasetVersion}, ranked by ${metricName(primary.name)} (${primary.higherIsBetter ? 'higher' : 'lower'} is better). `,
      'Models that score the same share a rank.'),
    h('form.filters', { onsubmit: (e) => e.preventDefault(), 'aria-label': 'Choose the board' },
      h('div.form-row', {}, h('label', { for: 'lb-board' }, 'Dataset'), switcher),
      h('div.form-row', {}, allBox, h('label', { for: 'lb-all' }, 'Every version of each model, not only the live one'))),
    table,
    h('section', { 'aria-labelledby': 'lb-chart-title' },
      h('h2', { id: 'lb-chart-title' }, `${metricName(primary.name)} over versions`),
      h('p.hint', {}, 'Each line is a model: its score on this dataset version for each of its evaluated versions.'),
      h('div.chart-box', {}, canvas)));
  await drawChart(canvas, history, primary, signal);
}

/** One line per model (at most ten, the best first): x is the model's version, y its primary score. */
async function drawChart(canvas, board, primary, signal) {
  const Chart = await loadChart();
  if (signal.aborted) return;
  const byModel = new Map();
  for (const e of board.entries) {
    const key = `${e.owner}/${e.model}`;
    if (!byModel.has(key)) byModel.set(key, []);
    byModel.get(key).push({ x: e.version, y: e.score });
  }
  const datasets = [...byModel].slice(0, 10).map(([label, points]) => ({
    label, data: points.sort((a, b) => a.x - b.x), tension: 0, pointRadius: 4,
  }));
  const chart = new Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: { type: 'linear', title: { display: true, text: 'model version' }, ticks: { stepSize: 1, precision: 0 } },
        y: { title: { display: true, text: metricName(primary.name) }, reverse: !primary.higherIsBetter },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  canvas.dataset.points = String(datasets.reduce((n, d) => n + d.data.length, 0));
  signal.addEventListener('abort', () => chart.destroy(), { once: true });
}

let chartLoad = null;
/** Chart.js 4 (vendor/chart.js, UMD): run as a module it sets globalThis.Chart. */
function loadChart() {
  chartLoad ??= import('/vendor/chart.js/chart.umd.js').then(() => globalThis.Chart);
  return chartLoad;
}

/** The model page's "Scores" tab: each evaluated version's metrics and rank on each board the visitor can see. */
export async function scoresPanel(panel, owner, name, signal) {
  const scores = await get(path('getModelScores', { owner, model: name }), { signal });
  if (!scores.length) {
    clear(panel, h('h2', {}, 'Scores'), h('p.empty', {}, 'This model has no scores on a dataset you can see yet.'));
    return;
  }
  const metricNames = [...new Set(scores.flatMap((s) => Object.keys(s.metrics)))];
  clear(panel, h('h2', {}, 'Scores'),
    h('p.hint', {}, 'A live version is ranked among the live versions of the board; any other version among every version.'),
    h('div.table-scroll', {}, h('table', { id: 'scores' },
      h('caption.offscreen', {}, 'Scores'),
      h('thead', {}, h('tr', {}, ['Board', 'Version', 'Rank', ...metricNames.map(metricName), 'Evaluated'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, scores.map((s) => h('tr', {},
        h('td', {}, h('a', { href: boardHref(s) + (s.live ? '' : '&versions=all') }, `${s.task} on ${s.datasetOwner}/${s.dataset}@${s.datasetVersion}`)),
        h('td', {}, String(s.version), s.live ? h('span.badge.status-succeeded', {}, 'live') : null),
        h('td.rank', {}, `${s.rank} of ${s.of}`),
        metricNames.map((m) => h('td.num', {}, fmt(s.metrics[m]))),
        h('td', {}, formatDate(s.evaluatedAt))))))));
}
