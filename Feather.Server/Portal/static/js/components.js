// The twelve Feather components (docs/sdk.md), rendered from a step's metadata or result.
// renderComponent(spec, options) → a Field: { el, name, interactive, response(), validate(), showError(), clearError() }.
// spec: { name, component, props, value, interactive, schema }; response() resolves to what the API
// expects under responses[name] (undefined for views and plain JSON values). The rules a response
// must follow (counts, max chars, file types) come from spec.schema.response, which the SDK emits
// (schema.js); the renderers here only lay the component out.
import { h, nextId, plural, formatBytes, clear } from './dom.js';
import { responseSchema, fieldSchema, itemSchema, countOf, maxCharsOf, fileTypesOf, fileAccepted, pickHint, filesHint, countProblem } from './schema.js';

// The server's limits on step files (getLimits), set by setLimits() before a run's panels are drawn;
// null until then (or when the server cannot say): the server checks every file anyway.
let LIMITS = null;
export function setLimits(limits) { LIMITS = limits || null; }

const MEDIA_TYPES = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.bmp': 'image/bmp',
  '.webp': 'image/webp', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.txt': 'text/plain', '.md': 'text/markdown',
  '.csv': 'text/csv', '.tsv': 'text/tab-separated-values', '.json': 'application/json', '.jsonl': 'application/jsonl',
  '.xml': 'application/xml', '.html': 'text/html', '.pdf': 'application/pdf', '.npy': 'application/octet-stream',
  '.npz': 'application/octet-stream', '.wav': 'audio/wav', '.mp3': 'audio/mpeg', '.zip': 'application/zip',
  '.bin': 'application/octet-stream',
};

const extensionOf = (name) => { const i = name.lastIndexOf('.'); return i < 0 ? '' : name.slice(i).toLowerCase(); };

/**
 * Where a binary payload's bytes are: its download link for a file the server keeps
 * ({ name, media_type, file, size, url }: outputs and uploads since step files), or a data: URL for inline
 * { data } (base64, older runs).
 */
export const blobUrl = (blob) => (blob.url ? blob.url : `data:${blob.media_type || 'application/octet-stream'};base64,${blob.data}`);

function bytesOf(blob) {
  const bin = atob(blob.data || '');
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The payload's bytes as a Blob: fetched from its URL (the session's cookie goes with it) or decoded. */
async function blobOf(blob) {
  if (!blob.url) return new Blob([bytesOf(blob)], { type: blob.media_type || 'application/octet-stream' });
  const response = await fetch(blob.url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`cannot read ${blob.name || 'the file'} (HTTP ${response.status})`);
  return new Blob([await response.arrayBuffer()], { type: blob.media_type || 'application/octet-stream' });
}

const sizeOf = (blob) => (typeof blob.size === 'number' ? blob.size : base64Bytes(blob.data));

// Files larger than this are offered as downloads instead of being shown in the page.
const SHOW_INLINE_BYTES = 2 * 1024 * 1024;

const isTextual = (blob) => /^text\/|json|xml|markdown|csv/.test(blob.media_type || '') ||
  ['.txt', '.md', '.csv', '.tsv', '.json', '.jsonl', '.xml', '.html'].includes(extensionOf(blob.name || ''));

/** The frame of every component: a labelled group with its description and an error slot. */
function frame(spec, kind) {
  const props = spec.props || {};
  const title = props.title || spec.name;
  const errorId = nextId('err');
  const descId = props.description ? nextId('desc') : null;
  const error = h('div.field-error', { id: errorId, hidden: true });
  const body = h('div.field-body');
  const el = h('fieldset.field', {
    class: `field field-${kind}`, 'data-input': spec.name,
    'aria-describedby': [descId, errorId].filter(Boolean).join(' '),
  },
  h('legend', {}, title),
  props.description ? h('p.field-desc', { id: descId }, props.description) : null,
  body, error);
  const field = {
    el, body, name: spec.name, interactive: !!spec.interactive, title,
    response: async () => undefined,
    validate: () => null,
    showError(message) {
      clear(error, h('span', { role: 'alert' }, message));
      error.hidden = false;
      el.setAttribute('aria-invalid', 'true');
    },
    clearError() { error.hidden = true; clear(error); el.removeAttribute('aria-invalid'); },
  };
  return field;
}

/** A text input or textarea with a live character counter. */
function textInput(label, initial, maxChars, onInput) {
  const id = nextId('txt');
  const counterId = nextId('cnt');
  const multiline = maxChars === null || maxChars > 120;
  const input = h(multiline ? 'textarea' : 'input', {
    id, name: id, type: multiline ? undefined : 'text', maxlength: maxChars ?? undefined, rows: multiline ? 3 : undefined,
    'aria-describedby': counterId, value: initial ?? '',
  });
  if (multiline) input.value = initial ?? '';
  const counter = h('span.counter', { id: counterId });
  const update = () => {
    counter.textContent = maxChars === null ? plural(input.value.length, 'character') : `${input.value.length} / ${maxChars} characters`;
    counter.classList.toggle('over', maxChars !== null && input.value.length > maxChars);
    onInput?.();
  };
  input.addEventListener('input', update);
  update();
  return { el: h('div.text-in', {}, h('label', { for: id }, label), input, counter), input };
}

function figure(blob, index, count, caption, extra) {
  const alt = `Image ${index + 1} of ${count}${blob.name ? ` (${blob.name})` : ''}`;
  return h('figure.image-card', {},
    h('img', { src: blobUrl(blob), alt, loading: 'lazy', decoding: 'async' }),
    caption ? h('figcaption', {}, caption) : null,
    extra);
}

function documentView(blob, index) {
  const label = blob.name || `Document ${index + 1}`;
  const isPdf = blob.media_type === 'application/pdf' || extensionOf(blob.name || '') === '.pdf';
  let content;
  if ((blob.media_type || '').startsWith('image/')) {
    content = h('img', { src: blobUrl(blob), alt: label });
  } else if ((isPdf || isTextual(blob)) && sizeOf(blob) <= SHOW_INLINE_BYTES) {
    // fetched and shown from a blob: URL (a file's own URL is an attachment, never rendered by the page)
    content = h('div.document-loading', {}, h('p.hint', {}, `Loading ${label}…`));
    blobOf(blob).then(async (bytes) => {
      content.replaceWith(isPdf
        ? h('iframe.pdf', { src: URL.createObjectURL(new Blob([bytes], { type: 'application/pdf' })), title: label })
        : h('pre.document-text', { tabindex: '0', 'aria-label': label }, await bytes.text()));
    }).catch((e) => content.replaceWith(h('p.hint', {}, `${e.message}. `, downloadLink(blob))));
  } else {
    content = downloadLink(blob);
  }
  return h('article.document', {}, h('h4', {}, label), content);
}

/** A link that saves the file: its own URL (streamed by the server, as an attachment) or inline bytes. */
function downloadLink(blob) {
  const name = blob.name || 'download';
  const href = blob.url || URL.createObjectURL(new Blob([bytesOf(blob)], { type: blob.media_type || 'application/octet-stream' }));
  return h('a.download', { href, download: name }, `Download ${blob.name || 'file'} (${formatBytes(sizeOf(blob))})`);
}

const asList = (x) => (Array.isArray(x) ? x : x === undefined || x === null ? [] : [x]);

// One choice among items: radio buttons or a dropdown; returns { el, selected() }.
function chooseOne(label, items, style, initial) {
  if (style === 'dropdown') {
    const id = nextId('sel');
    const select = h('select', { id }, items.map((item, i) => h('option', { value: i, selected: i === initial }, item)));
    return { el: h('div.choice', {}, h('label', { for: id }, label), select), selected: () => Number(select.value) };
  }
  const name = nextId('radio');
  const inputs = items.map((item, i) => h('input', { type: 'radio', name, value: i, checked: i === initial }));
  return {
    el: h('div.choice', { role: 'radiogroup', 'aria-label': label },
      items.map((item, i) => h('label.option', {}, inputs[i], h('span', {}, item)))),
    selected: () => { const i = inputs.findIndex((x) => x.checked); return i < 0 ? null : i; },
  };
}

// Items to tick, as many as `array` (the selection's schema) allows; returns { el, selected(), problem() }.
function chooseMany(label, items, array, preselected, onChange) {
  const { max } = countOf(array);
  const boxes = items.map((item, i) => h('input', { type: 'checkbox', value: i, checked: preselected.includes(i) }));
  const hintId = nextId('hint');
  const hint = h('p.hint', { id: hintId, 'aria-live': 'polite' });
  const refresh = () => {
    const n = boxes.filter((b) => b.checked).length;
    if (max !== null) for (const b of boxes) b.disabled = !b.checked && n >= max;
    hint.textContent = `${n} selected (${pickHint(array)})`;
    onChange?.();
  };
  boxes.forEach((b) => b.addEventListener('change', refresh));
  refresh();
  return {
    el: h('fieldset.choice', { 'aria-describedby': hintId },
      h('legend', {}, label),
      items.length ? items.map((item, i) => h('label.option', {}, boxes[i], h('span', {}, item))) : h('p.hint', {}, 'Nothing to select.'),
      hint),
    selected: () => boxes.filter((b) => b.checked).map((b) => Number(b.value)),
    problem: () => countProblem(array, boxes.filter((b) => b.checked).length),
  };
}

/** The first problem of several choices, named "image i: ..." (null when none). */
const firstProblem = (choices, what) => {
  const i = choices.findIndex((c) => c.problem());
  return i < 0 ? null : `${what} ${i + 1}: ${choices[i].problem()}`;
};

/** The first text over its limit, named by `label(i)` (null when none). */
const tooLong = (inputs, maxChars, label) => {
  const i = maxChars === null ? -1 : inputs.findIndex((x) => x.value.length > maxChars);
  return i < 0 ? null : `${label(i)} has ${inputs[i].value.length} characters; at most ${maxChars}`;
};

/** The number of bytes a standard base64 string decodes to. */
function base64Bytes(data) {
  const text = String(data || '');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor(text.length * 3 / 4) - padding;
}

const renderers = {
  'File.Upload'(spec, field, previous) {
    const array = fieldSchema(responseSchema(spec), 'files');
    const types = fileTypesOf(array);
    const { min, max: maxOrNull } = countOf(array);
    const max = maxOrNull ?? Infinity;
    const maxFile = LIMITS?.maxStepFileBytes ?? Infinity;
    const maxStep = LIMITS?.maxStepBytes ?? Infinity;
    // { file, name, media_type, size, sent } for files chosen here (sent: { runId, ref } once uploaded);
    // { ref, ... } for a file the server keeps (sent earlier, by reference); { data, ... } for inline bytes.
    const files = [...(previous?._entries || (previous?.files || []).map((p) => (p.file
      ? { name: p.name, media_type: p.media_type, size: p.size ?? 0, ref: p }
      : { name: p.name, media_type: p.media_type, data: p.data, size: base64Bytes(p.data) })))];
    const id = nextId('file');
    const input = h('input', { id, type: 'file', multiple: max > 1, accept: types.join(',') || undefined });
    const list = h('ul.file-list', { 'aria-label': 'Chosen files' });
    const limitHint = LIMITS ? `; up to ${formatBytes(maxFile)} each, ${formatBytes(maxStep)} a step` : '';
    const rule = `${types.length ? types.join(', ') : 'any type'}; ${filesHint(array)}${limitHint}`;
    const zone = h('div.dropzone', {},
      h('label', { for: id }, `Choose ${max > 1 ? 'files' : 'a file'} or drop ${max > 1 ? 'them' : 'it'} here`),
      input, h('p.hint', {}, rule), list);

    const check = () => {
      const problems = [];
      for (const f of files) {
        if (!fileAccepted(types, f.name, f.media_type))
          problems.push(`${f.name}: type ${extensionOf(f.name) || f.media_type || '(none)'} is not accepted; use ${types.join(', ')}`);
        if (f.size > maxFile) problems.push(`${f.name}: ${formatBytes(f.size)} is larger than ${formatBytes(maxFile)}, the most a file may have on this server`);
      }
      const total = files.reduce((a, f) => a + f.size, 0);
      if (total > maxStep) problems.push(`the files add up to ${formatBytes(total)}; at most ${formatBytes(maxStep)} per step on this server`);
      if (files.length > max) problems.push(`${plural(files.length, 'file')} chosen; at most ${max} allowed`);
      return problems.join('. ') || null;
    };
    const progress = new Map(); // entry → <progress> while it is sent
    const show = () => {
      clear(list, files.map((f, i) => h('li', {},
        h('span', {}, `${f.name} (${formatBytes(f.size)})`),
        progress.get(f) || null,
        h('button.link', { type: 'button', 'aria-label': `Remove ${f.name}`, onclick: () => { files.splice(i, 1); show(); } }, 'Remove'))));
      const problem = check();
      if (problem) field.showError(problem); else field.clearError();
    };
    const add = (chosen) => {
      for (const file of chosen) files.push({ file, name: file.name, size: file.size, media_type: file.type || MEDIA_TYPES[extensionOf(file.name)] || 'application/octet-stream' });
      show();
    };
    input.addEventListener('change', () => { add([...input.files]); input.value = ''; });
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('dragging'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('dragging'); add([...e.dataTransfer.files]); });
    field.body.append(zone);
    if (files.length) show();
    field.snapshot = () => ({ _entries: [...files] });
    field.validate = () => check() || (files.length < min ? `choose at least ${plural(min, 'file')}` : null);
    // Each chosen file is streamed into the run (upload(file, options) → the server's reference), once per run;
    // the response names files by reference, never by their bytes.
    field.response = async ({ runId, upload } = {}) => {
      const sent = [];
      for (const f of files) {
        if (f.ref) {
          sent.push({ name: f.name, media_type: f.media_type, file: f.ref.file });
        } else if (f.file && upload) {
          if (f.sent?.runId !== runId) {
            const bar = h('progress', { max: f.size || 1, value: 0, 'aria-label': `Sending ${f.name}` });
            progress.set(f, bar);
            show();
            try {
              const ref = await upload(f.file, { name: f.name, mediaType: f.media_type, onProgress: (n) => { bar.value = n; } });
              f.sent = { runId, ref };
            } finally {
              progress.delete(f);
              show();
            }
          }
          sent.push({ name: f.name, media_type: f.media_type, file: f.sent.ref.id });
        } else if (f.data !== undefined) {
          sent.push({ name: f.name, media_type: f.media_type, data: f.data });
        }
      }
      return { files: sent };
    };
  },

  'File.Download'(spec, field) {
    const files = spec.value?.files || [];
    field.body.append(files.length ? h('ul.downloads', {}, files.map((f) => h('li', {}, downloadLink(f)))) : h('p.hint', {}, 'No files.'));
  },

  'Text.In'(spec, field, previous) {
    const props = spec.props || {};
    const texts = fieldSchema(responseSchema(spec), 'texts');
    const n = texts.minItems ?? props.num_inputs ?? 1;
    const maxChars = maxCharsOf(texts);
    const defaults = asList(previous?.texts ?? spec.value?.texts ?? props.default_text);
    const inputs = [];
    for (let i = 0; i < n; i++) {
      const t = textInput(n > 1 ? `${field.title} ${i + 1}` : field.title, defaults[i] ?? defaults[0] ?? '', maxChars, () => field.clearError());
      inputs.push(t.input);
      field.body.append(t.el);
    }
    field.el.classList.add('plain');
    field.validate = () => tooLong(inputs, maxChars, (i) => `text ${i + 1}`);
    field.response = async () => ({ texts: inputs.map((x) => x.value) });
  },

  'Text.View'(spec, field) {
    field.body.append(h('div.text-view', {}, asList(spec.value?.texts).map((t) => h('p', {}, t))));
  },

  'List.SelectOne'(spec, field, previous) {
    const items = spec.value?.items || [];
    const choice = chooseOne(field.title, items, spec.props?.style, previous?.selected ?? 0);
    field.body.append(choice.el);
    field.validate = () => (choice.selected() === null ? 'choose one item' : null);
    field.response = async () => ({ selected: choice.selected() });
  },

  'List.SelectMulti'(spec, field, previous) {
    const items = spec.value?.items || [];
    const array = fieldSchema(responseSchema(spec), 'selected');
    const choice = chooseMany(`Choose (${pickHint(array)})`, items, array, previous?.selected ?? spec.value?.preselected ?? [], () => field.clearError());
    field.body.append(choice.el);
    field.validate = () => choice.problem();
    field.response = async () => ({ selected: choice.selected() });
  },

  'Image.WithSelectOne'(spec, field, previous) {
    const images = spec.value?.images || [];
    const lists = spec.value?.lists || [];
    const choices = images.map((img, i) => chooseOne(`Image ${i + 1}`, lists[i] || [], spec.props?.style, previous?.selected?.[i] ?? 0));
    field.body.append(h('div.image-grid', {}, images.map((img, i) => figure(img, i, images.length, null, choices[i].el))));
    field.validate = () => { const i = choices.findIndex((c) => c.selected() === null); return i < 0 ? null : `image ${i + 1}: choose one item`; };
    field.response = async () => ({ selected: choices.map((c) => c.selected()) });
  },

  'Image.WithSelectMulti'(spec, field, previous) {
    const images = spec.value?.images || [];
    const lists = spec.value?.lists || [];
    const selected = fieldSchema(responseSchema(spec), 'selected');
    const choices = images.map((img, i) => chooseMany(`Image ${i + 1}`, lists[i] || [], itemSchema(selected, i),
      previous?.selected?.[i] ?? spec.value?.preselected?.[i] ?? [], () => field.clearError()));
    field.body.append(h('div.image-grid', {}, images.map((img, i) => figure(img, i, images.length, null, choices[i].el))));
    field.validate = () => firstProblem(choices, 'image');
    field.response = async () => ({ selected: choices.map((c) => c.selected()) });
  },

  'Image.WithTextIn'(spec, field, previous) {
    const images = spec.value?.images || [];
    const maxChars = maxCharsOf(fieldSchema(responseSchema(spec), 'texts'));
    const defaults = asList(previous?.texts ?? spec.props?.default_text);
    const inputs = images.map((img, i) => textInput(`Text for image ${i + 1}`, defaults[i] ?? defaults[0] ?? '', maxChars, () => field.clearError()));
    field.body.append(h('div.image-grid', {}, images.map((img, i) => figure(img, i, images.length, null, inputs[i].el))));
    field.validate = () => tooLong(inputs.map((t) => t.input), maxChars, (i) => `the text for image ${i + 1}`);
    field.response = async () => ({ texts: inputs.map((t) => t.input.value) });
  },

  'Image.View'(spec, field) {
    const images = spec.value?.images || [];
    const texts = spec.value?.texts || [];
    field.body.append(h('div.image-grid', {}, images.map((img, i) => figure(img, i, images.length, texts[i]))));
  },

  'Document.WithTextIn'(spec, field, previous) {
    const docs = spec.value?.documents || [];
    const maxChars = maxCharsOf(fieldSchema(responseSchema(spec), 'texts'));
    const defaults = asList(previous?.texts ?? spec.props?.default_text);
    const inputs = docs.map((d, i) => textInput(`Text for ${d.name || `document ${i + 1}`}`, defaults[i] ?? defaults[0] ?? '', maxChars, () => field.clearError()));
    field.body.append(h('div.documents', {}, docs.map((d, i) => h('div.document-with-input', {}, documentView(d, i), inputs[i].el))));
    field.validate = () => tooLong(inputs.map((t) => t.input), maxChars, (i) => `the text for document ${i + 1}`);
    field.response = async () => ({ texts: inputs.map((t) => t.input.value) });
  },

  'Document.View'(spec, field) {
    const docs = spec.value?.documents || [];
    const texts = asList(spec.value?.texts);
    field.body.append(h('div.documents', {}, docs.map((d, i) => h('div', {}, documentView(d, i), texts[i] ? h('p.caption', {}, texts[i]) : null))));
  },

  Json(spec, field) {
    field.el.classList.add('json');
    field.body.append(h('details', {}, h('summary', {}, 'Data passed to the next step'),
      h('pre', {}, spec.value === undefined ? '(kept on the server)' : JSON.stringify(spec.value, null, 2))));
  },
};

export const COMPONENTS = Object.keys(renderers).filter((k) => k !== 'Json');

/**
 * Renders one component. `previous` is the response given last time (to keep a user's choices
 * when they go back); `interactive` false shows the component read-only.
 */
export function renderComponent(spec, { previous } = {}) {
  const kind = String(spec.component || 'Json').toLowerCase().replace('.', '-');
  const field = frame(spec, kind);
  const render = renderers[spec.component];
  if (!render) {
    field.body.append(h('p.hint', {}, `This portal cannot show the component ${spec.component}.`));
  } else {
    render(spec, field, previous);
  }
  if (!spec.interactive) field.el.classList.add('readonly');
  return field;
}
