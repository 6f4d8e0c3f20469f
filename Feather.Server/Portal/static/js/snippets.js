// "Use via API": per step, a curl command and a Python (ftr.Client) call, from the model's OpenAPI
// document when the server offers one (its request examples), else from the metadata.
import { responseSchema, exampleOf, exampleFrom } from './schema.js';

// Everything a model's author wrote (titles, example texts, file names) is quoted for the target
// language, so that a copied snippet cannot run the author's commands:
// - POSIX shell: single quotes, with each ' written as '\'' (q);
// - comments (shell and Python): one line, line breaks and other control characters as spaces;
// - URL path segments: percent-encoded, so nothing in them is special inside double quotes;
// - Python: literals built from the values (py), strings as JSON strings (valid Python literals).
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
// eslint-disable-next-line no-control-regex
const comment = (s) => String(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
const seg = (s) => encodeURIComponent(String(s));

const isFile = (v) => v && typeof v === 'object' && !Array.isArray(v)
  && Object.keys(v).sort().join() === 'data,media_type,name' && typeof v.name === 'string';

/** A Python literal for a JSON value; file parts become ftr.Client.file("name"). */
function py(value, indent = '') {
  const inner = `${indent}    `;
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'None';
  if (typeof value === 'string') return JSON.stringify(value);
  if (isFile(value)) return `ftr.Client.file(${JSON.stringify(value.name)})`;
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return `[\n${value.map((v) => inner + py(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${py(v, inner)}`).join(',\n')}\n${indent}}`;
}

/**
 * An example response for one interactive input: the example its response schema carries (the
 * SDK emits one for every init component and step output), else one built from the schema's shape.
 */
export function exampleResponse(input) {
  const schema = responseSchema(input);
  return schema ? exampleOf(schema) ?? exampleFrom(schema) : undefined;
}

function stepExamples(metadata, openapi) {
  return metadata.steps.map((step, k) => {
    const fromDoc = openapi?.paths?.[`/api/runs/{runId}/steps/${k}`]?.post?.requestBody?.content?.['application/json']?.example?.responses;
    if (fromDoc && Object.keys(fromDoc).length) return fromDoc;
    const responses = {};
    for (const input of step.inputs) {
      if (!input.interactive) continue;
      const r = exampleResponse(input);
      if (r !== undefined) responses[input.name] = r;
    }
    return responses;
  });
}

const MEDIA = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.txt': 'text/plain', '.csv': 'text/csv', '.pdf': 'application/pdf', '.json': 'application/json' };

/**
 * The -d argument of a step's curl call: the JSON in single quotes; files become
 * "$(base64 -w0 FILE)" between the quoted parts so the command works as copied.
 */
/**
 * The steps of one path through the model, in order: a linear model's steps; with a graph of steps, from the start
 * along the first edge to a step not yet on the path (a loop runs once), until the run ends. `at`: the metadata index.
 */
export function pathOf(metadata) {
  const steps = metadata.steps.map((step, at) => ({ step, at }));
  if (!metadata.graph) return steps;
  const byName = Object.fromEntries(steps.map((s) => [s.step.name, s]));
  const path = [];
  for (let name = metadata.graph.start; name && byName[name] && !path.includes(byName[name]);) {
    path.push(byName[name]);
    const edge = metadata.graph.edges.find((e) => e.from === name && e.to && !path.includes(byName[e.to]));
    name = edge?.to;
  }
  return path;
}

function curlBody(responses, stepName) {
  const files = [];
  const parts = [];
  let literal = '';
  const walk = (v) => {
    if (isFile(v)) {
      const ext = v.name.includes('.') ? v.name.slice(v.name.lastIndexOf('.')).toLowerCase() : '';
      files.push(v.name);
      literal += `{"name":${JSON.stringify(v.name)},"media_type":${JSON.stringify(MEDIA[ext] || 'application/octet-stream')},"data":"`;
      parts.push(q(literal), `"$(base64 -w0 ${q(v.name)})"`);
      literal = '"}';
    } else if (Array.isArray(v)) {
      literal += '[';
      v.forEach((x, i) => { if (i) literal += ','; walk(x); });
      literal += ']';
    } else if (v && typeof v === 'object') {
      literal += '{';
      Object.entries(v).forEach(([k, x], i) => { literal += `${i ? ',' : ''}${JSON.stringify(k)}:`; walk(x); });
      literal += '}';
    } else {
      literal += JSON.stringify(v ?? null);
    }
  };
  walk(stepName ? { step: stepName, responses } : { responses });
  parts.push(q(literal));
  return { arg: parts.join(''), files };
}

/**
 * Builds the snippets. `used[k]`: what the user sent for step k in the portal (optional, preferred
 * over the examples so the commands repeat the user's run).
 */
export function buildSnippets({ origin, owner, name, metadata, openapi, used = [], signedIn }) {
  const examples = stepExamples(metadata, openapi);
  const auth = signedIn ? ' -H "Authorization: Bearer $FEATHER_TOKEN"' : '';
  const curl = [
    `# ${comment(`${owner}/${name}`)}: ${metadata.steps.length} step(s). Public models need no token;`,
    `# for private ones: export FEATHER_TOKEN=... (Account → API tokens) and add`,
    `#   -H "Authorization: Bearer $FEATHER_TOKEN" to each call.`,
    `URL=${q(origin)}`,
    `RUN=$(curl -sf -X POST "$URL/api/models/${seg(owner)}/${seg(name)}/runs"${auth} -H 'Content-Type: application/json' -d '{}' \\`,
    `      | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4)`,
    `echo "run $RUN"`,
  ];
  const graph = !!metadata.graph;
  const perStep = pathOf(metadata).map(({ step, at }, k) => {
    const responses = used[k] && !/"(data|file)":/.test(JSON.stringify(used[k])) ? used[k] : examples[at];
    const { arg, files } = curlBody(responses, graph ? step.name : undefined);
    const lines = [
      comment(`# step ${k}: ${step.title || step.name}${files.length ? ` (needs ${files.join(', ')} in this directory)` : ''}`),
      `curl -sf -X POST "$URL/api/runs/$RUN/steps/${k}"${auth} -H 'Content-Type: application/json' -H 'Prefer: wait=60' \\`,
      `     -d ${arg}`,
    ];
    return { step, k, responses, curl: lines.join('\n') };
  });
  const python = [
    'import feather as ftr',
    '',
    `client = ftr.Client(${JSON.stringify(origin)})   # token="..." (Account → API tokens) for private models`,
    `run = client.run(${JSON.stringify(`${owner}/${name}`)})   # the live version; ${comment(`"${owner}/${name}@3"`)} pins one`,
    ...perStep.flatMap(({ step, k, responses }) =>
      [comment(`# step ${k}: ${step.title || step.name}`), graph
        ? `outputs = run.advance(${py(responses)}, step=${JSON.stringify(step.name)}, timeout=120)   # the server checks it is offered`
        : `outputs = run.step(${k}, ${py(responses)}, timeout=120)`]),
    'for output in outputs:',
    '    print(output["name"], output["component"], output["value"])',
  ];
  return { curl: [...curl, '', ...perStep.map((s) => s.curl)].join('\n'), perStep, python: python.join('\n') };
}

export function iframeSnippet(origin, owner, name) {
  return `<iframe src="${origin}/embed/${owner}/${name}" title="${owner}/${name} on Feather" width="100%" height="720" style="border:0"></iframe>`;
}
