// The Monitoring tab of a model page (its owner and team): steps, failures and latency per day, and drift
// statistics per feature with a drift score (PSI) against the version's reference window.
import { get } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox } from './dom.js';
import { chart } from './charts.js';

const fixed = (x, digits = 2) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));

export async function renderMonitoringTab(panel, { owner, name, version: wanted, signal }) {
  let view;
  try {
    const q = wanted ? `?version=${encodeURIComponent(wanted)}` : '';
    view = await get(path('getMonitoring', { owner, model: name }) + q, { signal });
  } catch (e) {
    clear(panel, h('h2', {}, 'Monitoring'), errorBox(e));
    return;
  }
  const versionSelect = h('select', { id: 'mon-version' }, (view.versions.length ? view.versions : [view.version]).map((v) =>
    h('option', { value: String(v), selected: v === view.version || undefined }, `Version ${v}`)));
  versionSelect.addEventListener('change', () => renderMonitoringTab(panel, { owner, name, version: versionSelect.value, signal }));
  const drifted = view.features.filter((f) => f.drifted);
  const health = h('div.charts');
  const features = h('div.features');
  clear(panel, h('h2', {}, 'Monitoring'),
    h('p', {}, `Statistics kept as runs arrive, aggregates only: a day, a reference or a bin with fewer than ${view.minCount} observations is not shown. `,
      `The reference window is the first ${view.referenceSize} runs of the version; the drift score is the population stability index (PSI) of each day against it; `,
      `above ${view.threshold} a feature counts as drifted.`),
    h('p', {}, h('label', { for: 'mon-version' }, 'Version '), versionSelect),
    h('p', { class: drifted.length ? 'alert drift-alert' : 'hint', role: drifted.length ? 'alert' : undefined },
      drifted.length ? `${drifted.length} feature(s) drifted past ${view.threshold}: ${drifted.map((f) => f.feature).join(', ')}` : 'No feature drifted past the threshold.'),
    h('h3', {}, 'Steps per day'), health,
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
