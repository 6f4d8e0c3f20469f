// The interactive API reference (/api/docs for the server, /api/models/{owner}/{model}/docs for one
// model, ?version=N or a tag for one version): Swagger UI, vendored under /vendor/swagger-ui, shows
// the OpenAPI document of this server. Everything comes from this server (the portal's
// content-security policy): no validator badge, no fonts or scripts from elsewhere.
/* global SwaggerUIBundle */
import { path } from './contract.js';

{
  const model = /^\/api\/models\/([^/]+)\/([^/]+)\/docs\/?$/.exec(location.pathname);
  const version = new URLSearchParams(location.search).get('version');
  const url = model
    ? path('getModelOpenApi', { owner: decodeURIComponent(model[1]), model: decodeURIComponent(model[2]) })
      + (version ? `?version=${encodeURIComponent(version)}` : '')
    : '/openapi/v1.json';
  document.title = model ? `${decodeURIComponent(model[1])}/${decodeURIComponent(model[2])} API reference · Feather` : 'API reference · Feather';
  const back = document.querySelector('.api-docs-back a');
  if (model) back.href = `/models/${model[1]}/${model[2]}`;

  // "Try it out" from a signed-in portal tab: the session cookie goes along (same origin), and unsafe
  // calls need the antiforgery token the portal keeps (js/api.js).
  const csrf = () => {
    try { return JSON.parse(sessionStorage.getItem('feather.session') || 'null'); } catch { return null; }
  };
  SwaggerUIBundle({
    url,
    domNode: document.getElementById('api-reference'),
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    requestInterceptor: (request) => {
      const s = csrf();
      if (s?.csrf && !['GET', 'HEAD', 'OPTIONS'].includes(String(request.method).toUpperCase())) {
        request.headers[s.csrfHeader || 'X-CSRF-TOKEN'] = s.csrf;
      }
      return request;
    },
  });
}
