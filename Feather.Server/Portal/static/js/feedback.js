// Feedback: the control next to every output of a run (consumers), and the Feedback tab of a model (its owner).
import { call, get, api } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox, formatDate, nextId } from './dom.js';
import { blobUrl } from './components.js';

export const SHARE_NOTICE = 'Giving feedback shares this step’s inputs and outputs with the model’s owner. Nothing else of your runs is shared.';

const ITEM_ARRAYS = ['images', 'documents', 'files', 'texts', 'items'];
const ITEM_WORD = { images: 'image', documents: 'document', files: 'file', texts: 'text', items: 'item' };

function itemsOf(spec) {
  const value = spec.value;
  if (!value || typeof value !== 'object') return { count: 0, word: 'item' };
  for (const key of ITEM_ARRAYS) if (Array.isArray(value[key])) return { count: value[key].length, word: ITEM_WORD[key] };
  return { count: 0, word: 'item' };
}

function choicesOf(spec, item) {
  const value = spec.value || {};
  if (Array.isArray(value.lists)) return item === null ? [] : (value.lists[item] || []).map(String);
  return Array.isArray(value.items) ? value.items.map(String) : [];
}

/**
 * The feedback control of one output (`spec`: name, component, value) of step `step` of run `runId`:
 * one click opens it; it can target the whole output or one of its items.
 */
export function feedbackFor(spec, { runId, step }) {
  const { count, word } = itemsOf(spec);
  const id = nextId('fb');
  const status = h('p.feedback-status', { role: 'status', 'aria-live': 'polite' });
  const itemSelect = count > 0 ? h('select', { id: `${id}-item`, name: 'item' },
    h('option', { value: '' }, 'The whole output'),
    Array.from({ length: count }, (_, i) => h('option', { value: String(i) }, `${word[0].toUpperCase()}${word.slice(1)} ${i + 1}`))) : null;
  const rating = (value, label) => h('label.inline', {}, h('input', { type: 'radio', name: `${id}-rating`, value }), ` ${label}`);
  const answerSelect = h('select', { id: `${id}-choice`, name: 'labelItem' });
  const answerChoice = h('p', { hidden: true }, h('label', { for: `${id}-choice` }, 'The right answer '), answerSelect);
  const answerText = h('input', { id: `${id}-label`, type: 'text', maxlength: '10000', name: 'label' });
  const comment = h('textarea', { id: `${id}-comment`, rows: '2', maxlength: '10000', name: 'comment' });
  const refreshChoices = () => {
    const item = itemSelect && itemSelect.value !== '' ? Number(itemSelect.value) : null;
    const choices = choicesOf(spec, item);
    clear(answerSelect, h('option', { value: '' }, '(choose)'), choices.map((c, i) => h('option', { value: String(i) }, c)));
    answerChoice.hidden = choices.length === 0;
  };
  itemSelect?.addEventListener('change', refreshChoices);
  refreshChoices();
  const send = h('button.secondary', { type: 'button' }, 'Send feedback');
  const details = h('details.feedback', { 'data-output': spec.name },
    h('summary', {}, 'Give feedback'),
    h('p.hint.share-notice', {}, SHARE_NOTICE),
    itemSelect ? h('p', {}, h('label', { for: `${id}-item` }, 'About '), itemSelect) : null,
    h('p', { role: 'radiogroup', 'aria-label': 'Rating' }, rating('correct', 'Correct'), ' ', rating('incorrect', 'Incorrect')),
    answerChoice,
    h('p', {}, h('label', { for: `${id}-label` }, 'The right answer (typed) '), answerText),
    h('p', {}, h('label', { for: `${id}-comment` }, 'Comment'), h('br'), comment),
    h('p', {}, send), status);
  send.addEventListener('click', async () => {
    const body = { output: spec.name };
    if (itemSelect && itemSelect.value !== '') body.item = Number(itemSelect.value);
    const checked = details.querySelector(`input[name="${id}-rating"]:checked`);
    if (checked) body.rating = checked.value;
    if (!answerChoice.hidden && answerSelect.value !== '') body.labelItem = Number(answerSelect.value);
    if (answerText.value.trim()) body.label = answerText.value.trim();
    if (comment.value.trim()) body.comment = comment.value.trim();
    send.disabled = true;
    try {
      await call('giveFeedback', { runId, index: step }, body);
      clear(status, 'Thank you: your feedback was sent to the model’s owner.');
      for (const input of details.querySelectorAll('input[type=radio]')) input.checked = false;
      answerText.value = '';
      comment.value = '';
    } catch (e) {
      clear(status, errorBox(e));
    } finally {
      send.disabled = false;
    }
  });
  return details;
}

function preview(value) {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/** What the feedback is about: the item's image, else the step's inputs (uploaded images as thumbnails, texts). */
function about(f) {
  const output = (f.outputs || []).find((o) => o.name === f.output);
  const images = output?.value?.images;
  const shown = [];
  if (Array.isArray(images) && images.length) {
    const chosen = f.item !== null && f.item !== undefined ? [images[f.item]] : images.slice(0, 3);
    for (const img of chosen.filter(Boolean)) shown.push(h('img.thumb', { src: blobUrl(img), alt: img.name || 'output image' }));
  }
  for (const [name, response] of Object.entries(f.inputs || {})) {
    if (Array.isArray(response?.files)) {
      for (const file of response.files.slice(0, 3)) {
        shown.push(String(file.media_type || '').startsWith('image/') && !shown.length
          ? h('img.thumb', { src: blobUrl(file), alt: file.name || name }) : h('span.hint', {}, ` ${file.name} `));
      }
    } else if (Array.isArray(response?.texts)) shown.push(h('span', {}, `${name}: ${preview(response.texts.join(' / '))} `));
    else shown.push(h('span', {}, `${name}: ${preview(response)} `));
  }
  return shown;
}

/** The Feedback tab of a model page: its owner's view of the feedback, filters, export and delete. */
export async function renderFeedbackTab(panel, { owner, name, versions, signal }) {
  const version = h('select', { id: 'fb-version', name: 'version' }, h('option', { value: '' }, 'All versions'),
    (versions || []).map((v) => h('option', { value: String(v.number) }, `Version ${v.number}`)));
  const rating = h('select', { id: 'fb-rating', name: 'rating' }, h('option', { value: '' }, 'Any rating'),
    h('option', { value: 'correct' }, 'Correct'), h('option', { value: 'incorrect' }, 'Incorrect'), h('option', { value: 'none' }, 'No rating'));
  const from = h('input', { id: 'fb-from', type: 'date', name: 'from' });
  const to = h('input', { id: 'fb-to', type: 'date', name: 'to' });
  const exportLink = h('a.button', { download: `${name}-feedback.zip` }, 'Export as a dataset (.zip)');
  const list = h('div.feedback-list', { 'aria-live': 'polite' });
  const query = () => {
    const q = new URLSearchParams();
    if (version.value) q.set('version', version.value);
    if (rating.value) q.set('rating', rating.value);
    if (from.value) q.set('from', `${from.value}T00:00:00Z`);
    if (to.value) q.set('to', new Date(Date.parse(`${to.value}T00:00:00Z`) + 86400000).toISOString());
    const s = q.toString();
    return s ? `?${s}` : '';
  };
  async function load() {
    exportLink.href = path('exportFeedback', { owner, model: name }) + query();
    let items;
    try {
      items = await get(path('listModelFeedback', { owner, model: name }) + query(), { signal });
    } catch (e) {
      clear(list, errorBox(e));
      return;
    }
    if (!items.length) { clear(list, h('p', {}, 'No feedback matches.')); return; }
    clear(list, h('table.feedback-table', {},
      h('caption.offscreen', {}, 'Feedback'),
      h('thead', {}, h('tr', {}, ['Given', 'By', 'Version', 'Output', 'About', 'Rating', 'Prediction', 'Right answer', 'Comment', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((f) => h('tr', { 'data-feedback': f.id },
        h('td', {}, formatDate(f.createdAt)),
        h('td', {}, f.createdBy || 'anonymous'),
        h('td', {}, String(f.version)),
        h('td', {}, `step ${f.step + 1} · ${f.output}${f.item !== null && f.item !== undefined ? ` · item ${f.item + 1}` : ''}`),
        h('td.about', {}, about(f)),
        h('td', {}, f.rating ? h('span', { class: `badge rating-${f.rating}` }, f.rating) : ''),
        h('td', {}, preview(f.prediction)),
        h('td', {}, preview(f.answer)),
        h('td', {}, preview(f.comment)),
        h('td', {}, h('button.link', {
          type: 'button', 'aria-label': `Delete feedback ${f.id}`,
          onclick: async () => {
            try { await api('DELETE', path('deleteFeedback', { id: f.id })); load(); } catch (e) { list.prepend(errorBox(e)); }
          },
        }, 'Delete')))))));
  }
  for (const control of [version, rating, from, to]) control.addEventListener('change', load);
  clear(panel, h('h2', {}, 'Feedback'),
    h('p', {}, 'What the consumers of this model said about its outputs, with the inputs they shared by giving it. ',
      'The export is a dataset directory that ', h('code', {}, 'feather datasets publish'), ' accepts: the inputs, the model’s prediction and the corrected label.'),
    h('div.filters', {},
      h('label', { for: 'fb-version' }, 'Version '), version, ' ',
      h('label', { for: 'fb-rating' }, 'Rating '), rating, ' ',
      h('label', { for: 'fb-from' }, 'From '), from, ' ',
      h('label', { for: 'fb-to' }, 'To '), to, ' ', exportLink),
    list);
  await load();
}
