// The model page's "Fine-tune" tab: a form whose hyperparameter fields are rendered from the training function's
// declaration (metadata train.params: type, default, minimum, maximum, enum, description), a dataset of the
// training task, the base version; then the job followed live over server-sent events (finetuneEvents): its
// status, each progress report, its metrics charted with the vendored Chart.js, its log, and the version it made.
import { get, call, session, enc } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox } from './dom.js';

let chartLoad = null;
const loadChart = () => (chartLoad ??= import('/vendor/chart.js/chart.umd.js').then(() => globalThis.Chart));

/** "admin/image-classifier@1 on admin/digits-train@1 (epochs=3, lr=1)" */
export function lineageText(l) {
  const params = Object.entries(l.params || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  return `${l.baseModel}@${l.baseVersion} on ${l.dataset}@${l.datasetVersion}${params ? ` (${params})` : ''}`;
}

/** One input per declared param; read() answers the values as their declared types. */
function paramField(name, decl) {
  const id = `ft-param-${name}`;
  let input;
  if (decl.enum) {
    input = h('select', { id, name }, decl.enum.map((v) => h('option', { value: JSON.stringify(v), selected: v === decl.default }, String(v))));
  } else if (decl.type === 'boolean') {
    input = h('input', { id, name, type: 'checkbox', checked: !!decl.default });
  } else if (decl.type === 'integer' || decl.type === 'number') {
    input = h('input', { id, name, type: 'number', value: String(decl.default), step: decl.type === 'integer' ? '1' : 'any',
      min: decl.minimum ?? null, max: decl.maximum ?? null, required: true });
  } else {
    input = h('input', { id, name, type: 'text', value: decl.default ?? '' });
  }
  const bounds = [decl.minimum != null ? `min ${decl.minimum}` : null, decl.maximum != null ? `max ${decl.maximum}` : null].filter(Boolean).join(', ');
  const read = () => {
    if (decl.enum) return JSON.parse(input.value);
    if (decl.type === 'boolean') return input.checked;
    if (decl.type === 'integer') return Number.parseInt(input.value, 10);
    if (decl.type === 'number') return Number(input.value);
    return input.value;
  };
  return {
    name, read,
    row: h('div.form-row', {}, h('label', { for: id }, name), input,
      h('span.hint', {}, [decl.description, `${decl.type}, default ${JSON.stringify(decl.default)}`, bounds].filter(Boolean).join(' · '))),
  };
}

export async function finetunePanel(panel, owner, name, model, signal) {
  const train = model.metadata?.train;
  if (!train) { clear(panel, h('h2', {}, 'Fine-tune'), h('p', {}, 'This model declares no training function.')); return; }
  if (!session.get()) {
    clear(panel, h('h2', {}, 'Fine-tune'), h('p', {}, h('a', { href: `/login?next=${enc(location.pathname + location.search)}` }, 'Sign in'), ' to fine-tune this model on a dataset.'));
    return;
  }
  const datasets = (await get(path('listDatasets'), { signal })).filter((d) => !train.task || d.task === train.task);
  const fields = Object.entries(train.params || {}).map(([k, d]) => paramField(k, d));
  const datasetSelect = h('select', { id: 'ft-dataset', required: true },
    datasets.map((d) => h('option', { value: `${d.owner}/${d.name}` }, `${d.owner}/${d.name}${d.title ? ` — ${d.title}` : ''}`)));
  const versionSelect = h('select', { id: 'ft-version' },
    (model.versions || []).map((v) => h('option', { value: String(v.number), selected: v.number === model.liveVersion }, `${v.number}${v.number === model.liveVersion ? ' (live)' : ''}`)));
  const status = h('div.status-area', { 'aria-live': 'polite' });
  const jobHost = h('div');
  const submit = h('button', { type: 'submit', disabled: datasets.length === 0 }, 'Start fine-tuning');
  const form = h('form', {
    id: 'finetune-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const params = {};
      for (const f of fields) params[f.name] = f.read();
      submit.disabled = true;
      try {
        const { data } = await call('startFinetune', {}, { model: `${owner}/${name}`, dataset: datasetSelect.value, version: versionSelect.value, params });
        clear(status);
        follow(jobHost, data, signal);
      } catch (err) {
        clear(status, errorBox(err));
      } finally {
        submit.disabled = datasets.length === 0;
      }
    },
  },
  h('div.form-row', {}, h('label', { for: 'ft-dataset' }, 'Dataset'), datasetSelect),
  h('div.form-row', {}, h('label', { for: 'ft-version' }, 'Base version'), versionSelect),
  h('fieldset', {}, h('legend', {}, 'Hyperparameters'), fields.length ? fields.map((f) => f.row) : h('p.hint', {}, 'none declared')),
  submit);
  clear(panel, h('h2', {}, 'Fine-tune'),
    h('p', {}, `Train a new version of ${owner}/${name} on a dataset${train.task ? ` (${train.task})` : ''}. `,
      'You get the new version: of this model when you may publish to it (not made live), else of your own copy. ',
      'It is scored on the leaderboard by itself once its image is built.'),
    datasets.length ? null : h('p.empty', {}, `No dataset${train.task ? ` for ${train.task}` : ''} that you can read.`),
    form, status, jobHost);
}

/** The job's live view: status, progress, chart, log; fed by the job's server-sent events until its result. */
function follow(host, job, signal) {
  const title = h('h3', {}, `Job ${job.id}`);
  const state = h('p.ft-status', { role: 'status' }, job.status);
  const progress = h('p.ft-progress', {}, '');
  const canvas = h('canvas', { id: 'ft-chart', role: 'img', 'aria-label': 'Metrics reported by the training function' });
  const log = h('pre.build-log', { tabindex: '0', 'aria-label': 'Training log' }, '');
  const result = h('div');
  const cancel = h('button.secondary', { type: 'button', onclick: async () => {
    try { await call('cancelFinetune', { id: job.id }); } catch (e) { clear(result, errorBox(e)); }
  } }, 'Cancel');
  clear(host, title, state, progress, cancel, h('div.chart-box', {}, canvas), h('h4', {}, 'Log'), log, result);
  const points = [];
  let chart = null;
  const redraw = async () => {
    const Chart = await loadChart();
    if (signal.aborted) return;
    const names = [...new Set(points.flatMap((p) => Object.keys(p.metrics)))];
    const datasets = names.map((n) => ({ label: n, data: points.map((p, i) => ({ x: p.epoch ?? i + 1, y: p.metrics[n] ?? null })), tension: 0, pointRadius: 3 }));
    if (!chart) {
      chart = new Chart(canvas, {
        type: 'line', data: { datasets },
        options: { animation: false, maintainAspectRatio: false,
          scales: { x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } } }, plugins: { legend: { position: 'bottom' } } },
      });
      signal.addEventListener('abort', () => chart.destroy(), { once: true });
    } else {
      chart.data.datasets = datasets;
      chart.update();
    }
    canvas.dataset.points = String(points.length);
  };
  const source = new EventSource(path('finetuneEvents', { id: job.id }));
  signal.addEventListener('abort', () => source.close(), { once: true });
  source.addEventListener('status', (e) => { state.textContent = JSON.parse(e.data).status; });
  source.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    points.push(p);
    const metrics = Object.entries(p.metrics).map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`).join(', ');
    progress.textContent = `${p.epoch != null ? `epoch ${p.epoch}${p.epochs != null ? `/${p.epochs}` : ''}, ` : ''}${metrics}`;
    redraw();
  });
  source.addEventListener('log', (e) => { log.textContent += JSON.parse(e.data).text; });
  source.addEventListener('result', (e) => {
    source.close();
    const j = JSON.parse(e.data);
    state.textContent = j.status;
    cancel.remove();
    if (j.status === 'succeeded') {
      const [o, m] = j.resultModel.split('/');
      clear(result, h('p.ok', {}, 'Made ', h('a', { href: `/models/${enc(o)}/${enc(m)}?tab=versions` }, `${j.resultModel} version ${j.resultVersion}`), '.'));
    } else {
      clear(result, errorBox(`${j.status}: ${j.error || ''}`));
    }
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) state.textContent += ' (disconnected)'; };
}
