// Evaluations: the model page's list of a model's evaluations (evaluationsSection, in the Scores tab) and
// /evaluations/{id}: one evaluation's status, progress (records done of total), metrics, per-class recall,
// log (it grows while it runs), a Cancel button for a queued or running one, and for whoever can change
// the model (detail.canChange) the per-record view: each record's inputs (image fields as thumbnails from
// the dataset file route), label, prediction and result, optionally only the wrong ones.
import { get, call, enc, ApiError } from './api.js';
import { path } from './contract.js';
import { h, clear, formatDate, plural, errorBox } from './dom.js';
import { setTitle } from './app.js';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PAGE = 50;
const fmt = (v) => (typeof v === 'number' ? v.toFixed(4) : '–');
const metricName = (m) => m.replace(/_/g, ' ');
const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
const badge = (status) => h(`span.badge.status-${status}`, {}, status);
export const evaluationHref = (id) => `/evaluations/${enc(id)}`;

function progress(e) {
  const total = e.recordCount || 0;
  return h('span.eval-progress', {},
    h('progress', { max: String(Math.max(total, 1)), value: String(e.recordsDone), 'aria-label': `${e.recordsDone} of ${total} records` }),
    ` ${e.recordsDone} of ${plural(total, 'record')}`);
}

/** The model page's list of its evaluations the visitor can see, newest first, each linking to its page. */
export async function evaluationsSection(owner, name, signal) {
  const list = await get(path('listModelEvaluations', { owner, model: name }), { signal });
  const section = h('section', { 'aria-labelledby': 'evaluations-title' }, h('h3', { id: 'evaluations-title' }, 'Evaluations'));
  if (!list.length) {
    section.append(h('p.empty', {}, 'No evaluation of this model on a dataset you can see.'));
    return section;
  }
  section.append(h('div.table-scroll', {}, h('table', { id: 'evaluations' },
    h('caption.offscreen', {}, 'Evaluations'),
    h('thead', {}, h('tr', {}, ['Evaluation', 'Version', 'Dataset', 'Status', 'Progress', 'Score', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((e) => h('tr', { 'data-evaluation': e.id },
      h('td', {}, h('a', { href: evaluationHref(e.id) }, e.id)),
      h('td', {}, String(e.modelVersion)),
      h('td', {}, `${e.datasetOwner}/${e.dataset}@${e.datasetVersion}`),
      h('td', {}, badge(e.status)),
      h('td', {}, progress(e)),
      h('td.num', {}, e.score === null || e.score === undefined ? '–' : `${metricName(e.primaryMetric)} ${fmt(e.score)}`),
      h('td', {}, formatDate(e.createdAt))))))));
  return section;
}

export async function evaluationPage(root, [id], { signal }) {
  setTitle(`Evaluation ${id}`);
  let detail;
  try {
    detail = await get(path('getEvaluation', { id }), { signal });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    clear(root, h('h1', {}, 'Evaluation not found'), h('p.empty', {}, e.message));
    return;
  }
  const e = detail.evaluation;
  const model = `${e.modelOwner}/${e.model}`;
  const modelHref = `/models/${enc(e.modelOwner)}/${enc(e.model)}`;
  const status = h('div', { id: 'evaluation-status', 'aria-live': 'polite' });
  const metrics = h('div', { id: 'evaluation-metrics' });
  const log = h('pre', { id: 'evaluation-log', tabindex: '0', 'aria-label': 'Log' });
  const records = h('section', { id: 'evaluation-records', 'aria-labelledby': 'records-title' });
  clear(root,
    h('p.crumbs', {}, h('a', { href: modelHref }, model), ' / evaluations / ', id),
    h('h1', {}, `${model} version ${e.modelVersion} on ${e.datasetOwner}/${e.dataset}@${e.datasetVersion}`),
    h('p.lead', {}, `${e.task}, ${plural(e.recordCount, 'record')}, started by ${e.trigger === 'on-demand' ? (e.requestedBy || 'a user') : e.trigger}. `,
      h('a', { href: `/datasets/${enc(e.datasetOwner)}/${enc(e.dataset)}` }, 'The dataset'), '.'),
    status, metrics,
    h('section', { 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Log'), log),
    records);

  let shownRecords = false;
  let shownState = '';
  const render = (d) => {
    const v = d.evaluation;
    const active = !TERMINAL.has(v.status);
    const logText = d.logs || (active ? '(no output yet)' : '(no output)');
    if (log.textContent !== logText) log.textContent = logText;
    // the status region is live (read out by screen readers): only redrawn when something in it changed
    const state = JSON.stringify([v.status, v.recordsDone, v.recordCount, v.error, v.seconds, d.canChange, d.labelField]);
    if (state === shownState) return active;
    shownState = state;
    const cancel = d.canChange && active ? h('button.secondary', {
      type: 'button', id: 'evaluation-cancel',
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await call('cancelEvaluation', { id });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 409) status.append(errorBox(err));
        }
        await refresh();
      },
    }, 'Cancel') : null;
    clear(status,
      h('p', {}, 'Status ', badge(v.status), ' ', progress(v),
        v.seconds !== null && v.seconds !== undefined ? ` · ${v.seconds.toFixed(1)} s` : '', ' ', cancel),
      v.error ? h('div.alert', { role: 'alert' }, v.error) : null,
      d.labelField ? h('p.hint', {}, 'Scored on the label field ', h('code', {}, d.labelField),
        ' (a dataset with several label fields is scored on its first one).') : null);
    if (v.status === 'succeeded') clear(metrics, metricsTable(v), recallTable(d));
    if (v.status === 'succeeded' && !shownRecords) {
      shownRecords = true;
      if (d.canChange) recordsView(records, v, signal).catch((err) => { if (err.name !== 'AbortError') records.append(errorBox(err)); });
      else clear(records, h('p.hint', {}, 'The per-record view (which records the model got wrong) is for whoever can change the model.'));
    }
    return active;
  };

  const refresh = async () => {
    detail = await get(path('getEvaluation', { id }), { signal });
    return render(detail);
  };
  let active = render(detail);
  while (active && !signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (signal.aborted) return;
    active = await refresh();
  }
}

function metricsTable(v) {
  return h('table', { id: 'evaluation-metric-table' },
    h('caption', {}, 'Metrics'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', {}, Object.entries(v.metrics).map(([k, value]) => h('tr', {},
      h('th', { scope: 'row' }, metricName(k), k === v.primaryMetric ? ' (primary)' : ''), h('td.num', {}, fmt(value))))));
}

function recallTable(d) {
  if (!d.perClassRecall || !d.classes) return null;
  return h('details', {}, h('summary', {}, 'Recall per class'),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Class'), h('th', { scope: 'col' }, 'Recall'))),
      h('tbody', {}, d.classes.map((c) => h('tr', {}, h('th', { scope: 'row' }, c), h('td.num', {}, fmt(d.perClassRecall[c])))))));
}

/** The per-record view: a page of records at a time, all or only the wrong ones. */
async function recordsView(section, v, signal) {
  const wrongBox = h('input', { type: 'checkbox', id: 'records-wrong' });
  const summary = h('p', { id: 'records-summary', 'aria-live': 'polite' });
  const body = h('tbody');
  const head = h('thead');
  const more = h('button.secondary', { type: 'button', id: 'records-more', hidden: true }, 'Show more');
  const fileUrl = (p) => `${path('getDatasetFile', { owner: v.datasetOwner, dataset: v.dataset, number: v.datasetVersion })}?path=${enc(p)}`;
  clear(section,
    h('h2', { id: 'records-title' }, 'Records'),
    h('form.filters', { onsubmit: (ev) => ev.preventDefault() },
      h('div.form-row', {}, wrongBox, h('label', { for: 'records-wrong' }, 'Wrong only'))),
    summary,
    h('div.table-scroll', {}, h('table', { id: 'records' }, h('caption.offscreen', {}, 'Scored records'), head, body)),
    more);

  let offset = 0;
  let fields = [];
  const load = async (reset) => {
    if (reset) { offset = 0; clear(body); }
    const q = new URLSearchParams({ offset: String(offset), limit: String(PAGE) });
    if (wrongBox.checked) q.set('wrong', 'true');
    const page = await get(`${path('getEvaluationRecords', { id: v.id })}?${q}`, { signal });
    fields = page.inputFields || fields;
    if (reset) {
      clear(head, h('tr', {}, h('th', { scope: 'col' }, '#'), fields.map((f) => h('th', { scope: 'col' }, f.name)),
        h('th', { scope: 'col' }, page.labelField && page.labelField !== 'label' ? `Label (${page.labelField})` : 'Label'), h('th', { scope: 'col' }, 'Prediction'),
        h('th', { scope: 'col' }, 'Result')));
    }
    for (const r of page.records) {
      body.append(h('tr', { 'data-index': String(r.index), class: r.correct ? 'right' : 'wrong' },
        h('td.num', {}, String(r.index)),
        fields.map((f) => h('td', {}, inputCell(f, r.inputs ? r.inputs[f.name] : undefined, fileUrl))),
        h('td', {}, show(r.label)),
        h('td', {}, show(r.prediction)),
        h('td', {}, r.correct ? '✓ right' : '✗ wrong', typeof r.score === 'number' ? ` (${fmt(r.score)})` : '')));
    }
    offset += page.records.length;
    summary.textContent = `${wrongBox.checked ? 'Wrong records' : 'Records'}: showing ${offset} of ${page.total}`
      + (page.truncated ? ' (the server keeps the first 50,000 records of an evaluation)' : '');
    more.hidden = offset >= page.total;
  };
  wrongBox.addEventListener('change', () => load(true).catch((err) => { if (err.name !== 'AbortError') section.append(errorBox(err)); }));
  more.addEventListener('click', () => load(false).catch((err) => { if (err.name !== 'AbortError') section.append(errorBox(err)); }));
  await load(true);
}

function inputCell(field, value, fileUrl) {
  if (value === undefined || value === null) return '–';
  if (field.type === 'image' && typeof value === 'string') {
    return h('a', { href: fileUrl(value), target: '_blank', rel: 'noopener' },
      h('img.thumb', { src: fileUrl(value), alt: `${field.name}: ${value}`, width: 64, height: 64 }));
  }
  if (field.type === 'file' && typeof value === 'string') return h('a', { href: fileUrl(value), download: '' }, value);
  return show(value);
}
