// The run interface: one panel per point of the run's path, generated from the metadata, driven by the runs API.
// Panel k shows the inputs of the step at position k (init() for k = 0, else what the step at k-1 returned) and
// runs it; after a step that may end the run, the result. A linear model's path is its steps in order (N panels and
// the result); a model with branches and loops (metadata.graph) grows its path as the server offers the next steps:
// the panel offers each of them (a loop: run it again, or move on), the breadcrumb shows the path taken with each
// loop's iterations and the branches left behind. Next, back, re-run at any point (later steps become stale), reset.
import { call, get, ApiError } from './api.js';
import { ACTIVE, path } from './contract.js';
import { h, clear, errorBox, formatDate } from './dom.js';
import { renderComponent } from './components.js';
import { feedbackFor } from './feedback.js';

const STATUS_TEXT = {
  pending: 'Not run yet',
  awaiting_input: 'Waiting for your input',
  queued: 'Queued: waiting for a container',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  invalid_input: 'Input not accepted',
  timed_out: 'Timed out',
  cancelled: 'Cancelled',
  stale: 'Stale: an earlier step was re-run; run this step again',
};

const seconds = (step) => (step?.startedAt && step?.endedAt
  ? ` in ${((new Date(step.endedAt) - new Date(step.startedAt)) / 1000).toFixed(1)} s` : '');

export function statusText(step) {
  if (!step) return STATUS_TEXT.pending;
  const base = STATUS_TEXT[step.status] || step.status;
  return step.status === 'succeeded' ? `${base}${seconds(step)}` : base;
}

/**
 * Mounts the run interface into `root`.
 * options: { owner, name, metadata (the live version's), runId?, onRun(run) (called when a run is
 * created or loaded, to put its id into the URL), signal (aborted when the page is left),
 * onResponses(stepIndex, responses) (for "use via API") }.
 */
export async function mountRun(root, options) {
  const { owner, name, signal } = options;
  let metadata = options.metadata;
  let run = null;
  let panel = 0;
  const responses = []; // what was sent per step, to pre-fill a panel when going back
  const snapshots = [];

  if (options.runId) {
    try {
      run = await get(path('getRun', { runId: options.runId }), { signal });
    } catch (e) {
      clear(root, errorBox(e.status === 404
        ? `Run ${options.runId} does not exist, or it belongs to someone else (sign in as its owner).` : e));
      return;
    }
    if (run.owner !== owner || run.model !== name) {
      clear(root, errorBox(`Run ${run.id} belongs to ${run.owner}/${run.model}, not ${owner}/${name}.`));
      return;
    }
    try {
      const version = await get(path('getVersion', { owner, model: name, reference: run.version }), { signal });
      metadata = version.metadata || metadata;
    } catch { /* the live metadata is the best we have */ }
    try {
      const saved = JSON.parse(sessionStorage.getItem(`feather.run.${run.id}`) || '[]');
      saved.forEach((r, i) => { if (r) responses[i] = r; });
    } catch { /* nothing saved */ }
    options.onRun?.(run);
  }
  if (!metadata?.steps?.length) {
    clear(root, errorBox('This model has no live version with metadata to run.'));
    return;
  }
  const steps = metadata.steps;
  const graph = metadata.graph || null;
  const byName = Object.fromEntries(steps.map((s) => [s.name, s]));
  const titleOf = (name) => byName[name]?.title || name;
  // N: the number of positions before the result panel. A linear model: its steps; a graph: the path so far,
  // plus one when the last step offers another.
  const pathLength = () => run?.steps?.length || 0;
  let N = steps.length;
  const recount = () => {
    if (!graph) { N = steps.length; return; }
    const len = pathLength();
    N = len === 0 ? 1 : len;
  };
  recount();
  /** The steps that may run at position k: the start, then what the step before offered when it succeeded. */
  const offeredAt = (k) => {
    if (k === 0) return [graph?.start || steps[0].name];
    const before = run?.steps?.[k - 1];
    if (before?.status !== 'succeeded') return [];
    if (before.next) return before.next;
    return k < steps.length ? [steps[k].name] : [];
  };
  const endsAfter = (k) => {
    const before = run?.steps?.[k - 1];
    return before?.status === 'succeeded' && (before.ends ?? k === steps.length);
  };
  /** The model's step at position k: the one on the path, else the first offered. */
  const stepAt = (k) => byName[run?.steps?.[k]?.name] || byName[offeredAt(k)[0]] || (k === 0 ? steps[0] : null);
  /** Position k shows the result: the step before succeeded, may end the run, and offers nothing more (or the user finished). */
  let finishedAt = -1;
  const isResult = (k) => k > 0 && endsAfter(k) && (offeredAt(k).length === 0 || finishedAt === k || k >= N);

  const reachable = (k) => k === 0 || (run?.steps?.[k - 1]?.status === 'succeeded');
  const firstOpen = () => {
    if (!run) return 0;
    for (let k = 0; k < pathLength(); k++) if (run.steps[k]?.status !== 'succeeded') return k;
    return graph ? pathLength() : N;
  };
  panel = firstOpen();

  const stepper = h('ol.stepper', { 'aria-label': 'Steps' });
  const panelEl = h('section.panel', { 'aria-live': 'off' });
  const runLine = h('p.run-line');
  clear(root, h('div.run', {}, h('nav', { 'aria-label': 'Run progress' }, stepper), runLine, panelEl));

  function renderStepper() {
    recount();
    if (graph) { renderPath(); return; }
    const labels = [...steps.map((s) => s.title || s.name), 'Result'];
    clear(stepper, labels.map((label, k) => {
      const status = k < N ? run?.steps?.[k]?.status : (run?.steps?.[N - 1]?.status === 'succeeded' ? 'succeeded' : null);
      const button = h('button.step-link', {
        type: 'button', disabled: !reachable(k), 'aria-current': k === panel ? 'step' : undefined,
        onclick: () => show(k),
      }, h('span.step-no', {}, `${k + 1}`), h('span', {}, label),
      status && status !== 'pending' && status !== 'awaiting_input'
        ? h('span.badge', { class: `badge status-${status}` }, k === N ? 'ready' : status.replace('_', ' ')) : null);
      return h('li', { class: status ? `status-${status}` : '' }, button);
    }));
    renderRunLine();
  }

  /**
   * The breadcrumb of a model with branches and loops: the path taken (each loop iteration numbered, each branch
   * named), what may come next, the result once the run may end, and the branches a re-run left (stale).
   */
  function renderPath() {
    const path = run?.steps?.length ? run.steps : [{ index: 0, name: offeredAt(0)[0], status: 'awaiting_input', iteration: 1 }];
    const items = path.map((entry, k) => {
      const status = entry.status;
      const label = `${titleOf(entry.name)}${entry.iteration > 1 ? ` (${entry.iteration})` : ''}`;
      const button = h('button.step-link', {
        type: 'button', disabled: !reachable(k), 'aria-current': k === panel && !isResult(k) ? 'step' : undefined,
        onclick: () => show(k),
      }, h('span.step-no', {}, `${k + 1}`), h('span', {}, label),
      status && status !== 'pending' && status !== 'awaiting_input'
        ? h('span.badge', { class: `badge status-${status}` }, status.replace('_', ' ')) : null,
      entry.branch && entry.status === 'succeeded' && !byName[entry.name] ? null
        : entry.branch && entry.status === 'succeeded' ? h('span.branch', {}, ` → ${entry.branch}`) : null);
      return h('li', { class: status ? `status-${status}` : '' }, button);
    });
    const last = path.length;
    const lastEntry = run?.steps?.[last - 1];
    if (lastEntry?.status === 'succeeded' && offeredAt(last).length) {
      items.push(h('li.next', {}, h('span.hint', {}, `next: ${offeredAt(last).map(titleOf).join(' or ')}`)));
    } else if (last > 1 && ['awaiting_input', 'pending'].includes(lastEntry?.status)) {
      // the step waiting at the end of the path is the model's choice; the others offered there
      const instead = offeredAt(last - 1).filter((n) => n !== lastEntry.name);
      if (instead.length) items.push(h('li.next', {}, h('span.hint', {}, `or instead: ${instead.map(titleOf).join(' or ')}`)));
    }
    if (run?.complete) {
      const at = resultPosition();
      items.push(h('li', { class: 'status-succeeded' }, h('button.step-link', {
        type: 'button', 'aria-current': isResult(panel) ? 'step' : undefined, onclick: () => { finishedAt = at; show(at); },
      }, h('span.step-no', {}, '✓'), h('span', {}, 'Result'), h('span.badge.status-succeeded', {}, 'ready'))));
    }
    clear(stepper, items);
    const left = run?.discarded || [];
    stepper.parentElement?.querySelector('.discarded')?.remove();
    if (left.length) {
      stepper.after(h('p.discarded.hint', {}, 'Left behind by a re-run (stale): ',
        left.slice(-6).map((s) => `${titleOf(s.name)}${s.iteration > 1 ? ` (${s.iteration})` : ''}`).join(', ')));
    }
    renderRunLine();
  }

  /** The position of the result panel: after the first step on the path that may end the run. */
  function resultPosition() {
    const path = run?.steps || [];
    for (let k = 0; k < path.length; k++) {
      if (path[k].status !== 'succeeded') break;
      if (path[k].ends) return k + 1;
    }
    return path.length;
  }

  function renderRunLine() {
    clear(runLine, run
      ? [`Run `, h('code', {}, run.id), ` · version ${run.version}`, run.createdAt ? ` · started ${formatDate(run.createdAt)}` : '']
      : `Not started yet · the live version${options.liveVersion ? ` (${options.liveVersion})` : ''} will run`);
  }

  /** The components shown in panel k: init for k = 0, else step k-1's outputs (with their values). */
  function specsFor(k) {
    if (k === 0) return (metadata.init?.length ? metadata.init : steps[0].inputs).map((c) => ({ ...c, interactive: c.interactive ?? true }));
    const result = graph ? isResult(k) : k >= N;
    const declared = result ? (byName[run?.steps?.[k - 1]?.name] || steps[N - 1]).outputs : (stepAt(k) || steps[k]).inputs;
    const outputs = run?.steps?.[k - 1]?.outputs || [];
    return outputs.map((o) => {
      const meta = declared.find((d) => d.name === o.name) || {};
      return { ...meta, ...o, props: { ...(meta.props || {}), ...(o.props || {}) }, interactive: !result && !!meta.interactive };
    });
  }

  function logsOf(k, open) {
    const step = run?.steps?.[k];
    if (!step?.logs) return null;
    return h('details.logs', { open: open || undefined }, h('summary', {}, `Log of “${titleOf(step.name)}”`),
      h('pre', { tabindex: '0' }, step.logs));
  }

  function stepError(step) {
    const e = step?.error;
    if (!e && !step?.message) return null;
    const frames = e?.frames || [];
    return h('div.alert', { role: 'alert' },
      h('strong', {}, e?.type ? `${e.type}: ` : ''), e?.message || step.message,
      frames.length ? h('pre.frames', {}, frames.map((f) => `${f.file}:${f.line} in ${f.function}\n    ${f.code || ''}`).join('\n')) : null);
  }

  let fields = [];
  let statusEl;
  let actionButton;

  /**
   * Going back to a step submitted before this page was loaded (a reload, a shared link): its
   * responses, files included, come from the server so the step can be re-run as it was.
   */
  async function restoreResponses(k) {
    const step = run?.steps?.[k];
    if ((!graph && k >= N) || snapshots[k] || responses[k] || !step || ['pending', 'awaiting_input'].includes(step.status)) return;
    try {
      responses[k] = await get(path('getStepResponses', { runId: run.id, index: k }), { signal });
    } catch { /* not submitted, or not ours to read: the panel starts empty */ }
  }

  let showing = 0; // the latest show() wins when several wait for the server at once
  async function show(k, { focus = true } = {}) {
    const ticket = ++showing;
    await restoreResponses(k);
    if (ticket !== showing) return;
    panel = k;
    if (!graph || !isResult(k)) finishedAt = finishedAt === k ? finishedAt : -1;
    renderStepper();
    const result = graph ? isResult(k) : k >= N;
    const specs = specsFor(k);
    fields = specs.map((spec, i) => renderComponent(spec, { previous: !result ? snapshots[k]?.[spec.name] ?? responses[k]?.[spec.name] : undefined }));
    // feedback next to every output the previous step gave (it shares that step's inputs and outputs with the owner)
    if (k > 0 && run?.steps?.[k - 1]?.status === 'succeeded') {
      specs.forEach((spec, i) => { if (spec.component && spec.component !== 'Json') fields[i].el.append(feedbackFor(spec, { runId: run.id, step: k - 1 })); });
    }
    const step = !result ? run?.steps?.[k] : null;
    const meta = stepAt(k);
    const iteration = step?.iteration > 1 ? ` (iteration ${step.iteration})` : '';
    const heading = result ? 'Result' : graph ? `Step ${k + 1}: ${meta.title || meta.name}${iteration}` : `Step ${k + 1} of ${N}: ${meta.title || meta.name}`;
    statusEl = h('div.step-status', { role: 'status', 'aria-live': 'polite' });
    const nav = h('div.actions');
    actionButton = null;
    if (k > 0) nav.append(h('button.secondary', { type: 'button', onclick: () => show(k - 1) }, 'Back'));
    if (!result) {
      // Each step the server offers here (a loop: again, or move on); the one on the path first.
      const offered = graph ? [...new Set([step?.name, ...offeredAt(k)].filter((x) => x && offeredAt(k).includes(x)))] : [meta.name];
      const ran = step && !['pending', 'awaiting_input'].includes(step.status);
      offered.forEach((name, i) => {
        const again = ran && name === step.name;
        const label = again ? `Re-run “${titleOf(name)}”` : graph && step?.name === name && name === run?.steps?.[k - 1]?.name
          ? `Run “${titleOf(name)}” again` : `Run “${titleOf(name)}”`;
        const button = h(i === 0 ? 'button.primary' : 'button.secondary',
          { type: i === 0 ? 'submit' : 'button', 'data-step': name, onclick: i === 0 ? undefined : () => submit(k, name) }, label);
        if (i === 0) actionButton = button;
        nav.append(button);
      });
      if (graph && endsAfter(k)) {
        nav.append(h('button.secondary', { type: 'button', onclick: () => { finishedAt = k; show(k); } }, 'Finish here'));
      }
      if (step?.status === 'succeeded') nav.append(h('button.secondary', { type: 'button', onclick: () => show(k + 1) }, 'Next'));
    }
    nav.append(h('button.secondary', { type: 'button', onclick: reset }, 'Reset'));
    const before = run?.steps?.[k - 1];
    const form = h('form.step-form', { novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(k, actionButton?.dataset.step); } },
      k > 0 ? h('p.hint', {}, `Returned by “${titleOf(before?.name || steps[k - 1]?.name)}”${seconds(before)}.`,
        graph && before?.branch ? ` Branch: ${before.branch}.` : '') : null,
      !result && meta.description ? h('p.step-desc', {}, meta.description) : null,
      fields.length ? fields.map((f) => f.el) : h('p.hint', {}, 'This step needs no input.'),
      k > 0 ? logsOf(k - 1, false) : null,
      statusEl, nav);
    const title = h('h3', { tabindex: '-1' }, heading);
    clear(panelEl, title, form);
    renderStatus(k);
    if (focus) title.focus();
  }

  function renderStatus(k) {
    if ((graph ? isResult(k) : k >= N) || !statusEl) return;
    const step = run?.steps?.[k];
    const busy = step && ACTIVE.has(step.status);
    if (actionButton) actionButton.disabled = !!busy;
    if (!step || step.status === 'pending' || step.status === 'awaiting_input') { clear(statusEl); return; }
    const cancel = busy ? h('button.link', { type: 'button', onclick: () => cancelRun() }, 'Cancel') : null;
    clear(statusEl,
      h('p', {}, h('span', { class: `badge status-${step.status}` }, step.status.replace('_', ' ')), ' ', statusText(step),
        busy ? h('span.spinner', { 'aria-hidden': 'true' }) : null, cancel),
      step.status === 'invalid_input' || step.status === 'succeeded' ? null : stepError(step),
      logsOf(k, busy || ['failed', 'timed_out'].includes(step.status)));
    if (step.status === 'invalid_input') {
      const field = fields.find((f) => f.name === step.error?.input);
      const message = step.error?.message || step.message || 'the input was not accepted';
      if (field) field.showError(message);
      else statusEl.append(h('div.alert', { role: 'alert' }, message));
    }
  }

  async function ensureRun() {
    if (run) return run;
    const { data } = await call('startRun', { owner, model: name }, {});
    run = data;
    options.onRun?.(run);
    return run;
  }

  function saveResponses() {
    if (!run) return;
    try {
      // Files are not kept (they can be large); texts and selections are, to pre-fill after a reload.
      const small = responses.map((r) => (r && JSON.stringify(r).length < 20000 ? r : null));
      sessionStorage.setItem(`feather.run.${run.id}`, JSON.stringify(small));
    } catch { /* storage full or disabled: nothing to keep */ }
  }

  async function submit(k, stepName) {
    for (const f of fields) f.clearError();
    const invalid = fields.filter((f) => f.interactive).map((f) => [f, f.validate()]).filter(([, m]) => m);
    if (invalid.length) {
      for (const [f, m] of invalid) f.showError(m);
      invalid[0][0].el.querySelector('input, select, textarea, button')?.focus();
      return;
    }
    if (actionButton) actionButton.disabled = true;
    clear(statusEl, h('p', {}, h('span.badge.status-queued', {}, 'sending'), ' Sending the inputs', h('span.spinner', { 'aria-hidden': 'true' })));
    const body = {};
    snapshots[k] = {};
    for (const f of fields.filter((x) => x.interactive)) {
      const r = await f.response();
      if (r !== undefined) body[f.name] = r;
      snapshots[k][f.name] = f.snapshot ? f.snapshot() : r;
    }
    responses[k] = body;
    options.onResponses?.(k, body);
    try {
      await ensureRun();
      saveResponses();
      const request = graph && stepName ? { responses: body, step: stepName } : { responses: body };
      const { data } = await call('submitStep', { runId: run.id, index: k }, request, { headers: { Prefer: 'wait=2' }, signal });
      if (graph) {
        // the server may have changed the path (another step here, a branch left): take it as it is now
        try { run = await get(path('getRun', { runId: run.id }), { signal }); } catch { run.steps[k] = data; }
      } else {
        run.steps[k] = data;
        for (let j = k + 1; j < N; j++) if (run.steps[j] && run.steps[j].status !== 'pending') run.steps[j].status = 'stale';
      }
      renderStepper();
      renderStatus(k);
      await follow(k);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (actionButton) actionButton.disabled = false;
      const field = e instanceof ApiError && fields.find((f) => f.name === e.input);
      if (field) { field.showError(e.message); clear(statusEl); } else clear(statusEl, errorBox(e));
    }
  }

  /** Polls the run while step k is queued or running, then moves on when it succeeded. */
  async function follow(k) {
    while (run.steps[k] && ACTIVE.has(run.steps[k].status)) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      if (signal?.aborted) return;
      try {
        run = await get(path('getRun', { runId: run.id }), { signal });
      } catch (e) {
        if (e.name === 'AbortError') return;
        clear(statusEl, errorBox(e));
        return;
      }
      if (panel === k) renderStatus(k);
      renderStepper();
    }
    try { run = await get(path('getRun', { runId: run.id }), { signal }); } catch { /* keep what we have */ }
    if (signal?.aborted) return;
    if (run.steps[k]?.status === 'succeeded' && panel === k) {
      if (graph && isResult(k + 1)) finishedAt = k + 1;
      show(k + 1);
    }
    else if (panel === k) { renderStepper(); renderStatus(k); }
  }

  async function cancelRun() {
    try {
      await call('cancelStep', { runId: run.id, index: panel });
    } catch (e) {
      statusEl.append(errorBox(e));
    }
  }

  function reset() {
    run = null;
    finishedAt = -1;
    responses.length = 0;
    snapshots.length = 0;
    options.onRun?.(null);
    show(0);
  }

  show(panel, { focus: false });
  const active = run?.steps?.findIndex((s) => ACTIVE.has(s.status)) ?? -1;
  if (active >= 0) { show(active, { focus: false }); follow(active); }
}
