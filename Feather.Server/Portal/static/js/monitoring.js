// The Monitoring tab of a model page (its owner and team): steps, failures and latency per day, and drift
// statistics per feature with a drift score (PSI) against the version's reference window: its first runs, or a dataset
// of the model's task.
import { get } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox } from './dom.js';
import { chart } from './charts.js';

const fixed = (x, digits = 2) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));

export async function renderMonitoringTab(panel, { owner, name, tasks = [], version: wanted, reference = '', signal }) {
  let view;
  let datasets = [];
  try {
    const q = new URLSearchParams();
    if (wanted) q.set('version', wanted);
    if (reference) q.set('reference', reference);
    const query = q.toString() ? `?${q}` : '';
    [view, datasets] = await Promise.all([
      get(path('getMonitoring', { owner, model: name }) + query, { signal }),
      // the datasets of the model's tasks, each a possible reference window
      Promise.all(tasks.map((task) => get(`${path('listDatasets')}?task=${encodeURIComponent(task)}`, { signal }).catch(() => [])))
        .then((lists) => lists.flat()),
    ]);
  } catch (e) {
    clear(panel, h('h2', {}, 'Monitoring'), errorBox(e));
    return;
  }
  const again = (change) => renderMonitoringTab(panel, { owner, name, tasks, version: wanted, reference, signal, ...change });
  const versionSelect = h('select', { id: 'mon-version' }, (view.versions.length ? view.versions : [view.version]).map((v) =>
    h('option', { value: String(v), selected: v === view.version || undefined }, `Version ${v}`)));
  versionSelect.addEventListener('change', () => again({ version: versionSelect.value }));
  const current = view.reference === 'dataset' ? view.referenceDataset.replace(/@\d+$/, '') : '';
  const referenceSelect = h('select', { id: 'mon-reference' },
    h('option', { value: '', selected: !current || undefined }, 'The first runs of the version'),
    datasets.map((d) => h('option', { value: `${d.owner}/${d.name}`, selected: `${d.owner}/${d.name}` === current || undefined },
      `Dataset ${d.owner}/${d.name} (${d.task})`)));
  referenceSelect.addEventListener('change', () => again({ reference: referenceSelect.value }));
  const windowText = view.reference === 'dataset'
    ? `The reference window is the dataset ${view.referenceDataset} (${view.referenceSize} records; its image and text input fields); each day counts every run of the version; `
    : `The reference window is the first ${view.referenceSize} runs of the version; `;
  const drifted = view.features.filter((f) => f.drifted);
  const health = h('div.charts');
  const drift = h('div.charts');
  const features = h('div.features');
  clear(panel, h('h2', {}, 'Monitoring'),
    h('p', {}, `Statistics kept as runs arrive, aggregates only: a day, a reference or a bin with fewer than ${view.minCount} observations is not shown. `,
      windowText, 'the drift score is the population stability index (PSI) of each day against it; ',
      `above ${view.threshold} a feature counts as drifted.`),
    h('p', {}, h('label', { for: 'mon-version' }, 'Version '), versionSelect, ' ',
      h('label', { for: 'mon-reference' }, 'Reference '), referenceSelect),
    h('p', { class: drifted.length ? 'alert drift-alert' : 'hint', role: drifted.length ? 'alert' : undefined },
      drifted.length ? `${drifted.length} feature(s) drifted past ${view.threshold}: ${drifted.map((f) => f.feature).join(', ')}` : 'No feature drifted past the threshold.'),
    h('h3', {}, 'Steps per day'), health,
    h('h3', {}, 'Drift over time'), drift,
    h('h3', {}, 'Features'),
    view.features.length ? h('table.monitoring-table', {},
      h('caption.offscreen', {}, 'Drift per feature'),
      h('thead', {}, h('tr', {}, ['Feature', 'Component', 'Reference', 'Latest day', 'Drift score (PSI)'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, view.features.map((f) => {
        const last = f.days[f.days.length - 1];
        return h('tr', { class: f.drifted ? 'drifted' : '', 'data-feature': f.feature },
          h('th', { scope: 'row' }, `step ${f.step + 1} · ${f.direction} ${f.name} · ${f.statistic}`),
          h('td', {}, f.component || '–'),
          h('td', {}, f.kind === 'numeric' ? `mean ${fixed(f.referenceMean)} (${f.referenceCount})` : `${f.referenceCount} observations`),
          h('td', {}, last ? (f.kind === 'numeric' ? `mean ${fixed(last.mean)} (${last.count}, ${last.day})` : `${last.count} (${last.day})`) : '–'),
          h('td', {}, f.score === null || f.score === undefined ? '–' : fixed(f.score, 3), f.drifted ? h('span.badge.status-failed', {}, 'drifted') : null));
      }))) : h('p', {}, 'No statistics yet: they appear as runs of this version arrive.'),
    features);

  const days = [...new Set(view.health.map((d) => d.day))];
  const byVersion = [...new Set(view.health.map((d) => d.version))];
  if (days.length) {
    await chart(health, 'Steps, failures and mean seconds per day', {
      type: 'bar',
      data: {
        labels: days,
        datasets: [
          ...byVersion.map((v) => ({ label: `steps, version ${v}`, data: days.map((d) => view.health.find((x) => x.day === d && x.version === v)?.steps ?? 0), stack: 'steps' })),
          { label: 'failed', data: days.map((d) => view.health.filter((x) => x.day === d).reduce((a, x) => a + x.failed, 0)), stack: 'failed' },
          { type: 'line', label: 'mean seconds', yAxisID: 'seconds', data: days.map((d) => {
            const rows = view.health.filter((x) => x.day === d && x.meanSeconds !== null);
            return rows.length ? rows.reduce((a, x) => a + x.meanSeconds * x.steps, 0) / rows.reduce((a, x) => a + x.steps, 0) : null;
          }) },
        ],
      },
      options: { scales: { seconds: { position: 'right', beginAtZero: true }, y: { beginAtZero: true } } },
    });
  }
  // the drift score of each day, for the features that moved most, against the threshold
  const scored = view.features.filter((f) => f.days.some((d) => d.score !== null && d.score !== undefined));
  if (scored.length) {
    const allDays = [...new Set(scored.flatMap((f) => f.days.map((d) => d.day)))].sort();
    const top = [...scored].sort((a, b) => (b.score ?? 0) - (a.score ?? 0)).slice(0, 8);
    await chart(drift, 'Drift score (PSI) per day of the features that moved most', {
      type: 'line',
      data: {
        labels: allDays,
        datasets: [
          ...top.map((f) => ({ label: f.feature, data: allDays.map((d) => f.days.find((x) => x.day === d)?.score ?? null), spanGaps: true })),
          { label: `threshold ${view.threshold}`, data: allDays.map(() => view.threshold), borderDash: [6, 4], pointRadius: 0 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'PSI' } } } },
    });
  } else {
    drift.append(h('p.hint', {}, 'No drift score yet: a day needs enough observations beside the reference window.'));
  }
  // one chart per feature (drifted ones first): the reference distribution against the latest day's
  const shown = [...view.features].sort((a, b) => Number(b.drifted) - Number(a.drifted)).filter((f) => f.reference.length || f.days.length).slice(0, 12);
  for (const f of shown) {
    const box = h('figure.feature-chart', { class: f.drifted ? 'feature-chart drifted' : 'feature-chart' },
      h('figcaption', {}, `step ${f.step + 1} · ${f.direction} ${f.name} · ${f.statistic}`, f.drifted ? h('span.badge.status-failed', {}, `drifted: PSI ${fixed(f.score, 3)}`) : ''));
    features.append(box);
    const last = f.days[f.days.length - 1];
    await chart(box, `Distribution of ${f.feature}: reference and ${last ? last.day : 'no day yet'}`, {
      type: 'bar',
      data: {
        labels: f.bins,
        datasets: [
          { label: `reference (${f.referenceCount})`, data: f.reference },
          ...(last ? [{ label: `${last.day} (${last.count})`, data: last.histogram }] : []),
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'share' } } } },
    });
  }
}
