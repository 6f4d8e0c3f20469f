// "Use via API": per step, a curl command and a Python (ftr.Client) call, from the model's OpenAPI
// document when the server offers one (its request examples), else from the metadata.
import { responseSchema, exampleOf, exampleFrom } from './schema.js';

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

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

/** The -d argument of a step's curl call: files become $(base64 -w0 FILE) so the command works as copied. */
function curlBody(responses) {
  let json = JSON.stringify({ responses });
  const files = [];
  json = json.replace(/\{"name":"(example[^"]*|[^"]+)","media_type":"[^"]*","data":"[^"]*"\}/g, (m, name) => {
    const ext = name.slice(name.lastIndexOf('.')).toLowerCase();
    files.push(name);
    return `{"name":"${name}","media_type":"${MEDIA[ext] || 'application/octet-stream'}","data":"'"$(base64 -w0 ${q(name)})"'"}`;
  });
  return { arg: `'${json}'`, files };
}

/**
 * Builds the snippets. `used[k]`: what the user sent for step k in the portal (optional, preferred
 * over the examples so the commands repeat the user's run).
 */
export function buildSnippets({ origin, owner, name, metadata, openapi, used = [], signedIn }) {
  const examples = stepExamples(metadata, openapi);
  const auth = signedIn ? ' -H "Authorization: Bearer $FEATHER_TOKEN"' : '';
  const curl = [
    `# ${owner}/${name}: ${metadata.steps.length} step(s). Public models need no token;`,
    `# for private ones: export FEATHER_TOKEN=... (Account → API tokens) and add`,
    `#   -H "Authorization: Bearer $FEATHER_TOKEN" to each call.`,
    `URL=${origin}`,
    `RUN=$(curl -sf -X POST "$URL/api/models/${owner}/${name}/runs"${auth} -H 'Content-Type: application/json' -d '{}' \\`,
    `      | grep -o '"id":"[^"]*"' | head -n1 | cut -d'"' -f4)`,
    `echo "run $RUN"`,
  ];
  const perStep = metadata.steps.map((step, k) => {
    const responses = used[k] && !JSON.stringify(used[k]).includes('"data":') ? used[k] : examples[k];
    const { arg, files } = curlBody(responses);
    const lines = [
      `# step ${k}: ${step.title || step.name}${files.length ? ` (needs ${files.join(', ')} in this directory)` : ''}`,
      `curl -sf -X POST "$URL/api/runs/$RUN/steps/${k}"${auth} -H 'Content-Type: application/json' -H 'Prefer: wait=60' \\`,
      `     -d ${arg}`,
    ];
    return { step, k, responses, curl: lines.join('\n') };
  });
  const python = [
    'import feather as ftr',
    '',
    `client = ftr.Client(${JSON.stringify(origin)})   # token="..." (Account → API tokens) for private models`,
    `run = client.run(${JSON.stringify(`${owner}/${name}`)})   # the live version; "${owner}/${name}@3" pins one`,
    ...perStep.flatMap(({ step, k, responses }) => {
      const py = JSON.stringify(responses, null, 4).replace(/\btrue\b/g, 'True').replace(/\bfalse\b/g, 'False').replace(/\bnull\b/g, 'None')
        .replace(/\{\s*"name": "([^"]+)",\s*"media_type": "[^"]*",\s*"data": "[^"]*"\s*\}/g, (m, file) => `ftr.Client.file(${JSON.stringify(file)})`);
      return [`# step ${k}: ${step.title || step.name}`, `outputs = run.step(${k}, ${py}, timeout=120)`];
    }),
    'for output in outputs:',
    '    print(output["name"], output["component"], output["value"])',
  ];
  return { curl: [...curl, '', ...perStep.map((s) => s.curl)].join('\n'), perStep, python: python.join('\n') };
}

export function iframeSnippet(origin, owner, name) {
  return `<iframe src="${origin}/embed/${owner}/${name}" title="${owner}/${name} on Feather" width="100%" height="720" style="border:0"></iframe>`;
}
