// Tiny DOM helpers: h('tag.class', {attrs}, ...children). No framework, no build step.
let uid = 0;
export const nextId = (prefix = 'f') => `${prefix}-${++uid}`;

export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'multiple' || k === 'hidden') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const plural = (n, word, many = word + 's') => `${n} ${n === 1 ? word : many}`;

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GiB`;
}

export function formatDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** A button that copies `getText()` to the clipboard and says so (politely, for screen readers). */
export function copyButton(label, getText) {
  const status = h('span.copy-status', { role: 'status', 'aria-live': 'polite' });
  const button = h('button.secondary', {
    type: 'button',
    onclick: async () => {
      const text = getText();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        const area = h('textarea', { 'aria-hidden': 'true', class: 'offscreen' }, text);
        document.body.append(area);
        area.select();
        document.execCommand('copy');
        area.remove();
      }
      status.textContent = 'Copied';
      setTimeout(() => { status.textContent = ''; }, 2000);
    },
  }, label);
  return h('span.copy', {}, button, status);
}

/** An alert box for an error; `problem` is an ApiError or any Error. */
export function errorBox(problem) {
  return h('div.alert', { role: 'alert' }, problem?.message || String(problem));
}
