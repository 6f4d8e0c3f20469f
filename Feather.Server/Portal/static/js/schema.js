// What a response schema says, for hints, checks before sending, and example bodies.
// The SDK's components emit one JSON Schema per input (docs/contracts.md §1, "Response schemas"): in the
// metadata (init components) and in every step output (spec.schema.response). The portal reads
// the rules from it instead of keeping its own copy; the server validates with the same schema.
// Every reader tolerates a missing schema (runs recorded before schemas travelled): no limits then.
import { plural } from './dom.js';

/** The response schema of a component spec (metadata entry or step output), or null. */
export const responseSchema = (spec) => spec?.schema?.response || null;

/** The schema of the response's one field (`texts`, `selected`, `files`), or {}. */
export function fieldSchema(schema, key) {
  return schema?.properties?.[key] || {};
}

/** The schema of item i of an array schema: its prefixItems entry, else its items. */
export function itemSchema(array, i) {
  return array?.prefixItems?.[i] || (typeof array?.items === 'object' ? array.items : {}) || {};
}

/** How many items an array schema allows: { min, max } (max null: no limit). */
export function countOf(array) {
  return { min: array?.minItems ?? 0, max: array?.maxItems ?? null };
}

/** The most characters each string of an array of strings may have (null: no limit). */
export const maxCharsOf = (array) => itemSchema(array, 0).maxLength ?? null;

/**
 * What a file schema accepts, as an `accept` attribute lists it: the extensions of the name's examples
 * (example.pt → .pt) and the media type patterns of the media type's examples (audio/*, video/mp4).
 * Empty: any file.
 */
export function fileTypesOf(files) {
  const props = itemSchema(files, 0)?.properties || {};
  const extensions = (props.name?.examples || [])
    .map((n) => { const i = n.lastIndexOf('.'); return i > 0 ? n.slice(i).toLowerCase() : ''; }).filter(Boolean);
  const media = (props.media_type?.examples || []).map((m) => String(m).toLowerCase()).filter((m) => m.includes('/'));
  return [...extensions, ...media];
}

/** True when a file named `name` of media type `mediaType` is one of `types` (fileTypesOf; empty: any). */
export function fileAccepted(types, name, mediaType) {
  if (!types.length) return true;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot).toLowerCase() : '';
  const media = String(mediaType || '').split(';')[0].trim().toLowerCase();
  return types.some((t) => t.startsWith('.') ? t === ext
    : t.endsWith('/*') ? media.startsWith(t.slice(0, -1)) && media.length > t.length - 1 && !media.slice(t.length - 1).includes('/')
    : t === media);
}

/** The response the schema gives as its example, or undefined. */
export const exampleOf = (schema) => schema?.examples?.[0];

/** "pick 1 to 3", "pick up to 2", "pick at least 1", "pick any" for an array of indices. */
export function pickHint(array) {
  const { min, max } = countOf(array);
  if (max !== null && min === max) return `pick ${min}`;
  if (max !== null && min > 0) return `pick ${min} to ${max}`;
  if (max !== null) return `pick up to ${max}`;
  if (min > 0) return `pick at least ${min}`;
  return 'pick any';
}

/** "1 to 2 files", "1 file" for an array of files. */
export function filesHint(array) {
  const { min, max } = countOf(array);
  if (max === null) return min ? `at least ${plural(min, 'file')}` : 'any number of files';
  return min === max ? plural(min, 'file') : `${min} to ${max} files`;
}

/** A problem with a count of picks, as the schema's limits say it, or null. */
export function countProblem(array, n, what = 'items') {
  const { min, max } = countOf(array);
  if (n < min) return `choose at least ${min} ${what}`;
  if (max !== null && n > max) return `choose at most ${max} ${what}`;
  return null;
}

/**
 * A value that fits `schema`, built from its keywords: its own `examples` first, else the
 * smallest value its `minimum`, `minItems` and `required` ask for (an array gets one item when
 * it may). For inputs whose exact schema comes only at run time (a later step's inputs in the
 * metadata have their component's shape), this gives an example of the right shape.
 */
export function exampleFrom(schema) {
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const out = {};
      for (const key of schema.required || []) out[key] = exampleFrom(schema.properties?.[key]);
      return out;
    }
    case 'array': {
      const prefix = schema.prefixItems || [];
      const count = Math.max(schema.minItems ?? 0, prefix.length, schema.maxItems === 0 || schema.items === false ? 0 : 1);
      return Array.from({ length: count }, (_, i) => exampleFrom(itemSchema(schema, i)));
    }
    case 'integer': case 'number': return schema.minimum ?? 0;
    case 'string': return 'text'.slice(0, schema.maxLength ?? 4);
    case 'boolean': return false;
    default: return null;
  }
}
