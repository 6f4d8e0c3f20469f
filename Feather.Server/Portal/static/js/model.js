// The model page (run interface, use via API, versions, environment, embed), /runs/{id} and /embed.
import { get, session, enc, modelPath } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox, copyButton, formatDate } from './dom.js';
import { setTitle } from './app.js';
import { tagList } from './catalogue.js';
import { mountRun } from './run.js';
import { stepGraph, stepsSummary } from './graph-view.js';
import { buildSnippets, iframeSnippet } from './snippets.js';
import { renderFeedbackTab } from './feedback.js';
import { renderMonitoringTab } from './monitoring.js';

const ALL_TABS = [['run', 'Run'], ['api', 'Use via API'], ['versions', 'Versions'], ['scores', 'Scores'], ['finetune', 'Fine-tune'], ['environment', 'Environment'], ['embed', 'Embed']];

export async function runPage(root, [runId], ctx) {
  const run = await get(path('getRun', { runId }), ctx);
  return modelPage(root, [run.owner, run.model], { ...ctx, runId });
}

export async function embedPage(root, [owner, name], ctx) {
  const model = await get(modelPath(owner, name), ctx);
  setTitle(`${owner}/${name}`);
  const host = h('div');
  clear(root, h('h1.embed-title', {}, h('a', { href: `/models/${enc(owner)}/${enc(name)}`, target: '_blank', rel: 'noopener' }, `${owner}/${name}`)), host);
  await mountRun(host, {
    owner, name, metadata: model.metadata, liveVersion: model.liveVersion, runId: ctx.query.get('run'), signal: ctx.signal,
    onRun: (run) => history.replaceState(null, '', `/embed/${enc(owner)}/${enc(name)}${run ? `?run=${enc(run.id)}` : ''}`),
  });
}

export async function modelPage(root, [owner, name], ctx) {
  const { signal, query, runId } = ctx;
  const model = await get(modelPath(owner, name), { signal });
  setTitle(`${owner}/${name}`);
  const metadata = model.metadata;
  const used = [];
  // the Fine-tune tab only for a model whose live version declares a training function
  const BASE_TABS = ALL_TABS.filter(([id]) => id !== 'finetune' || metadata?.train);
  // The owner's tabs (Feedback, Monitoring): shown to those the server lets read the model's feedback.
  let owns = false;
  if (session.get()) {
    try { await get(path('listModelFeedback', { owner, model: name }) + '?limit=1', { signal }); owns = true; } catch { owns = false; }
  }
  const TABS = owns ? [...BASE_TABS, ['feedback', 'Feedback'], ['monitoring', 'Monitoring']] : BASE_TABS;

  const header = h('header.model-header', {},
    h('p.crumbs', {}, h('a', { href: '/' }, 'Models'), ' / ', h('a', { href: `/owners/${enc(owner)}` }, owner)),
    h('h1', {}, metadata?.title || `${owner}/${name}`),
    metadata?.title ? h('p.meta', {}, `${owner}/${name}`) : null,
    h('p.lead', {}, model.description || metadata?.description || 'No description.'),
    h('dl.facts', {},
      h('dt', {}, 'Owner'), h('dd', {}, h('a', { href: `/owners/${enc(owner)}` }, owner)),
      h('dt', {}, 'Live version'), h('dd', {}, model.liveVersion ?? 'none'),
      h('dt', {}, 'Visibility'), h('dd', {}, model.visibility || 'public'),
      h('dt', {}, 'Profile'), h('dd', {}, metadata?.profile || '–'),
      h('dt', {}, 'Steps'), h('dd', {}, stepsSummary(metadata))),
    stepGraph(metadata),
    tagList(model.tags || metadata?.tags));

  const tabList = h('div.tabs', { role: 'tablist', 'aria-label': 'Model sections' });
  const panels = {};
  const tabs = {};
  let current = TABS.some(([id]) => id === query.get('tab')) ? query.get('tab') : 'run';
  const select = (id, focus) => {
    current = id;
    for (const [tid] of TABS) {
      tabs[tid].setAttribute('aria-selected', String(tid === id));
      tabs[tid].tabIndex = tid === id ? 0 : -1;
      panels[tid].hidden = tid !== id;
    }
    if (focus) tabs[id].focus();
    if (id === 'api') renderApi();
    if (id === 'feedback' && !panels.feedback.dataset.loaded) {
      panels.feedback.dataset.loaded = '1';
      renderFeedbackTab(panels.feedback, { owner, name, versions: model.versions, signal });
    }
    if (id === 'monitoring' && !panels.monitoring.dataset.loaded) {
      panels.monitoring.dataset.loaded = '1';
      renderMonitoringTab(panels.monitoring, { owner, name, tasks: model.tags?.task || [], signal });
    }
    if (id === 'scores') renderScores();
    if (id === 'finetune') renderFinetune();
    if (!runId || id !== 'run') {
      const url = new URL(location.href);
      if (id === 'run') url.searchParams.delete('tab'); else url.searchParams.set('tab', id);
      if (!location.pathname.startsWith('/runs/')) history.replaceState(null, '', url.pathname + url.search);
    }
  };
  for (const [id, label] of TABS) {
    tabs[id] = h('button.tab', {
      type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`,
      onclick: () => select(id),
      onkeydown: (e) => {
        const i = TABS.findIndex(([t]) => t === id);
        const move = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (move) { e.preventDefault(); select(TABS[(i + move + TABS.length) % TABS.length][0], true); }
        if (e.key === 'Home') { e.preventDefault(); select(TABS[0][0], true); }
        if (e.key === 'End') { e.preventDefault(); select(TABS[TABS.length - 1][0], true); }
      },
    }, label);
    tabList.append(tabs[id]);
    panels[id] = h('section.tab-panel', { role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`, tabindex: '0' });
  }

  // Run
  const runHost = h('div');
  panels.run.append(runHost);

  // Use via API
  let openapi = null;
  let openapiUrl = '/openapi/v1.json';
  const openapiLoad = get(path('getModelOpenApi', { owner, model: name }), { signal })
    .then((doc) => { openapi = doc; openapiUrl = path('getModelOpenApi', { owner, model: name }); })
    .catch(() => {});
  async function renderApi() {
    await openapiLoad;
    if (!metadata) { clear(panels.api, h('p', {}, 'This model has no live version yet.')); return; }
    const s = buildSnippets({ origin: location.origin, owner, name, metadata, openapi, used, signedIn: false });
    clear(panels.api,
      h('h2', {}, 'Use via API'),
      h('p', {}, 'Start a run, then send each step the responses to what the previous step showed. ',
        'Steps answer within the ', h('code', {}, 'Prefer: wait'), ' time, or with 202 and a status to poll at ',
        h('code', {}, 'GET /api/runs/{id}'), '. ',
        h('a', { href: openapiUrl }, openapi ? 'OpenAPI document of this model' : 'OpenAPI document of the server'), ' · ',
        openapi ? h('a', { href: `${modelPath(owner, name)}/docs` }, 'interactive API reference') : 'no live version to show an API reference for', '.'),
      used.length ? h('p.hint', {}, 'The commands repeat the choices of your run in this page (files are named as you uploaded them).') : null,
      h('h3', {}, 'curl'),
      h('div.code', {}, h('pre', { tabindex: '0', 'aria-label': 'curl commands' }, h('code', {}, s.curl)), copyButton('Copy curl commands', () => s.curl)),
      h('h3', {}, 'Python'),
      h('div.code', {}, h('pre', { tabindex: '0', 'aria-label': 'Python code' }, h('code', {}, s.python)), copyButton('Copy Python code', () => s.python)),
      h('h3', {}, 'Steps'),
      h('ol.api-steps', {}, s.perStep.map(({ step, k }) => h('li', {},
        h('strong', {}, `POST /api/runs/{id}/steps/${k}`), ` — ${step.title || step.name}: `,
        step.inputs.filter((i) => i.interactive).map((i) => h('code', {}, `${i.name} (${i.component})`)).flatMap((x, j) => (j ? [', ', x] : [x])),
        step.inputs.some((i) => i.interactive) ? '' : 'no responses'))));
  }

  // Versions
  const versions = model.versions || [];
  panels.versions.append(h('h2', {}, 'Version history'),
    versions.length ? h('table', {},
      h('caption.offscreen', {}, 'Versions'),
      h('thead', {}, h('tr', {}, ['Version', 'Published', 'Notes', 'Image', 'Tags', 'Fine-tuned from'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, versions.map((v) => h('tr', {},
        h('td', {}, `${v.number}`, v.live || v.number === model.liveVersion ? h('span.badge.status-succeeded', {}, 'live') : null),
        h('td', {}, formatDate(v.createdAt), v.publisher ? ` by ${v.publisher}` : ''),
        h('td', {}, v.notes || ''),
        h('td', {}, v.imageStatus || '', v.preparation === 'failed'
          ? h('p.preparation-failed', {}, h('span.badge.status-failed', {}, 'preparation failed'), ' ', v.preparationMessage || '') : null),
        h('td', {}, (v.tags || []).join(', ')),
        h('td.lineage', {}, v.lineage ? lineageCell(v.lineage) : ''))))) : h('p', {}, 'No versions.'),
    session.get() ? h('p', {}, h('a', { href: `/me/models/${enc(owner)}/${enc(name)}` }, 'Manage versions')) : null);

  // Scores (leaderboards.js), loaded when the tab is first opened
  let scoresShown = false;
  function renderScores() {
    if (scoresShown) return;
    scoresShown = true;
    clear(panels.scores, h('h2', {}, 'Scores'), h('p.loading', {}, 'Loading…'));
    import('./leaderboards.js').then((m) => m.scoresPanel(panels.scores, owner, name, signal))
      .catch((e) => { if (e.name !== 'AbortError') clear(panels.scores, h('h2', {}, 'Scores'), errorBox(e)); });
  }

  // Fine-tune (finetune.js), loaded when the tab is first opened
  let finetuneShown = false;
  function renderFinetune() {
    if (finetuneShown) return;
    finetuneShown = true;
    clear(panels.finetune, h('h2', {}, 'Fine-tune'), h('p.loading', {}, 'Loading…'));
    import('./finetune.js').then((m) => m.finetunePanel(panels.finetune, owner, name, model, signal))
      .catch((e) => { if (e.name !== 'AbortError') clear(panels.finetune, h('h2', {}, 'Fine-tune'), errorBox(e)); });
  }

  // Environment
  const env = metadata?.environment || {};
  const list = (items) => (items?.length ? h('ul', {}, items.map((x) => h('li', {}, h('code', {}, x)))) : h('p.hint', {}, 'none'));
  panels.environment.append(h('h2', {}, 'Environment and profile'),
    h('dl.facts', {},
      h('dt', {}, 'Profile'), h('dd', {}, metadata?.profile || '–'),
      h('dt', {}, 'Python'), h('dd', {}, env.python || '–'),
      h('dt', {}, 'Entrypoint'), h('dd', {}, metadata?.entrypoint || '–')),
    h('h3', {}, 'System packages (Debian)'), list(env.system_packages),
    h('h3', {}, 'Python packages'), list(env.python_packages),
    env.imports?.length ? [h('h3', {}, 'Imports found in the code'),
      h('ul', {}, env.imports.map((i) => h('li', {}, h('code', {}, i.module), ` — ${i.provided_by || ''} ${i.debian_package || i.distribution || ''} ${i.version || ''}`)))] : null);

  // Embed
  const snippet = iframeSnippet(location.origin, owner, name);
  panels.embed.append(h('h2', {}, 'Embed'),
    h('p', {}, 'Show only the run interface of this model in another page:'),
    h('div.code', {}, h('pre', { tabindex: '0', 'aria-label': 'Embed code' }, h('code', {}, snippet)), copyButton('Copy embed code', () => snippet)),
    h('p', {}, h('a', { href: `/embed/${enc(owner)}/${enc(name)}` }, 'Open the embedded view')));

  clear(root, header, tabList, TABS.map(([id]) => panels[id]));
  select(current);

  await mountRun(runHost, {
    owner, name, metadata, liveVersion: model.liveVersion, runId, signal,
    onRun: (run) => {
      const target = run ? `/runs/${enc(run.id)}` : `/models/${enc(owner)}/${enc(name)}`;
      if (location.pathname !== target) history.replaceState(null, '', target);
    },
    onResponses: (k, r) => { used[k] = r; },
  });
}

/** A fine-tuned version's lineage: base version, dataset version, hyperparameters and the job's last metrics. */
function lineageCell(l) {
  const params = Object.entries(l.params || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  const metrics = Object.entries(l.metrics || {}).map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`).join(', ');
  const [bo, bm] = l.baseModel.split('/');
  const [d_o, dn] = l.dataset.split('/');
  return [h('a', { href: `/models/${enc(bo)}/${enc(bm)}?tab=versions` }, `${l.baseModel}@${l.baseVersion}`), ' on ',
    h('a', { href: `/datasets/${enc(d_o)}/${enc(dn)}` }, `${l.dataset}@${l.datasetVersion}`),
    params ? h('div.hint', {}, params) : null, metrics ? h('div.hint', {}, `job ${l.job}: ${metrics}`) : h('div.hint', {}, `job ${l.job}`)];
}

export { errorBox };
