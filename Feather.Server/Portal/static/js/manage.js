// Management for signed-in users: my models (visibility), versions (promote, roll back, tag,
// image build status and logs), API tokens (create, shown once, revoke), the account (password
// change, sign out everywhere), teams.
import { call, get, session, enc, modelPath } from './api.js';
import { path } from './contract.js';
import { h, clear, errorBox, copyButton, formatDate } from './dom.js';
import { setTitle, navigate } from './app.js';

function requireSession() {
  const s = session.get();
  if (!s) { navigate(`/login?next=${enc(location.pathname)}`, { replace: true }); return null; }
  return s;
}

export async function myModels(root, params, { signal }) {
  const s = requireSession();
  if (!s) return;
  setTitle('My models');
  const me = await get(path('me'), { signal });
  const mine = new Set([me.username, ...(me.teams || [])]);
  const models = (await get(path('listModels'), { signal })).filter((m) => mine.has(m.owner));
  const status = h('div', { 'aria-live': 'polite' });
  clear(root, h('h1', {}, 'My models'),
    h('p', {}, `Signed in as ${me.username}`, me.teams?.length ? ` · teams: ${me.teams.join(', ')}` : '', '.'),
    status,
    models.length ? h('table.manage', {},
      h('caption.offscreen', {}, 'My models'),
      h('thead', {}, h('tr', {}, ['Model', 'Live version', 'Visibility', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, models.map((m) => {
        const id = `vis-${m.owner}-${m.name}`;
        const select = h('select', { id, onchange: async () => {
          clear(status);
          try {
            await call('updateModel', { owner: m.owner, model: m.name }, { visibility: select.value });
            clear(status, h('p.ok', { role: 'status' }, `${m.owner}/${m.name} is now ${select.value}.`));
          } catch (e) { clear(status, errorBox(e)); select.value = m.visibility; }
        } }, ['public', 'unlisted', 'private'].map((v) => h('option', { value: v, selected: v === m.visibility }, v)));
        return h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: `/models/${enc(m.owner)}/${enc(m.name)}` }, `${m.owner}/${m.name}`)),
          h('td', {}, m.liveVersion ?? 'none'),
          h('td', {}, h('label.offscreen', { for: id }, `Visibility of ${m.owner}/${m.name}`), select),
          h('td', {}, h('a', { href: `/me/models/${enc(m.owner)}/${enc(m.name)}` }, `Versions of ${m.name}`)));
      }))) : h('p', {}, 'You have no models yet. Publish one with ', h('code', {}, 'feather publish path/to/model'), '.'));
}

export async function manageModel(root, [owner, name], { signal }) {
  if (!requireSession()) return;
  setTitle(`Versions of ${owner}/${name}`);
  const status = h('div.status-area', { 'aria-live': 'polite' });
  const body = h('div');
  clear(root, h('p.crumbs', {}, h('a', { href: '/me/models' }, 'My models'), ' / ', `${owner}/${name}`),
    h('h1', {}, `Versions of ${owner}/${name}`),
    h('p', {}, h('a', { href: `/models/${enc(owner)}/${enc(name)}` }, 'Open the model page')), status, body);

  const done = (message) => clear(status, h('p.ok', { role: 'status' }, message));
  const failed = (e) => clear(status, errorBox(e));

  async function load() {
    const model = await get(modelPath(owner, name), { signal });
    const versions = model.versions?.length ? model.versions : await get(path('listVersions', { owner, model: name }), { signal });
    const live = model.liveVersion;

    const promote = (n) => async () => {
      try {
        await call('promoteVersion', { owner, model: name }, { version: String(n) });
        done(`Version ${n} is live.`);
        await load();
      } catch (e) { failed(e); }
    };
    const rollback = async () => {
      try {
        const { data } = await call('rollbackVersion', { owner, model: name });
        done(`Rolled back: version ${data.liveVersion} is live.`);
        await load();
      } catch (e) { failed(e); }
    };

    const tagName = h('input', { id: 'tag-name', placeholder: 'stable', pattern: '[a-z][a-z0-9.\\-]{0,31}', required: true });
    const tagVersion = h('select', { id: 'tag-version' }, versions.map((v) => h('option', { value: v.number }, `${v.number}`)));
    const tagForm = h('form.inline-form', {
      onsubmit: async (e) => {
        e.preventDefault();
        const tag = tagName.value.trim();
        const n = Number(tagVersion.value);
        try {
          await call('setTag', { owner, model: name, tag }, { version: String(n) });
          done(`Tag ${tag} points at version ${n}.`);
          await load();
        } catch (err) { failed(err); }
      },
    },
    h('div.form-row', {}, h('label', { for: 'tag-name' }, 'Tag'), tagName),
    h('div.form-row', {}, h('label', { for: 'tag-version' }, 'Version'), tagVersion),
    h('button.secondary', { type: 'submit' }, 'Set tag'));

    clear(body,
      h('p', {}, `Live version: ${live ?? 'none'}. `, h('button.secondary', { type: 'button', onclick: rollback }, 'Roll back to the previous live version')),
      h('table.manage', {},
        h('caption.offscreen', {}, 'Versions'),
        h('thead', {}, h('tr', {}, ['Version', 'Published', 'Notes', 'Tags', 'Image build', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, versions.map((v) => {
          const isLive = v.live ?? v.number === live;
          const logHost = h('div');
          const showLog = h('button.link', { type: 'button', 'aria-expanded': 'false', onclick: async () => {
            if (showLog.getAttribute('aria-expanded') === 'true') { clear(logHost); showLog.setAttribute('aria-expanded', 'false'); return; }
            try {
              const d = await get(path('getVersion', { owner, model: name, reference: v.number }), { signal });
              const log = d.image?.log ?? d.buildLog ?? '';
              const error = d.image?.error ?? d.imageError;
              const prep = d.preparation?.status === 'failed' ? d.preparation : null;
              clear(logHost, error ? errorBox(error) : null, h('pre.build-log', { tabindex: '0', 'aria-label': `Build log of version ${v.number}` }, log || '(no log yet)'),
                prep ? h('div.preparation-failed', {}, h('h3', {}, `Preparation of version ${v.number} failed`), errorBox(prep.message),
                  (prep.error?.frames || []).length ? h('ul', {}, prep.error.frames.map((f) => h('li', {}, h('code', {}, `${f.file}:${f.line} in ${f.function}`), f.code ? ` ${f.code}` : ''))) : null,
                  h('pre.build-log', { tabindex: '0', 'aria-label': `Preparation log of version ${v.number}` }, prep.log || '(no output)')) : null);
              showLog.setAttribute('aria-expanded', 'true');
            } catch (e) { clear(logHost, errorBox(e)); }
          } }, `Build log of version ${v.number}`);
          return [h('tr', {},
            h('th', { scope: 'row' }, `${v.number}`, isLive ? h('span.badge.status-succeeded', {}, 'live') : null),
            h('td', {}, formatDate(v.createdAt)),
            h('td', {}, v.notes || ''),
            h('td', {}, (v.tags || []).join(', ')),
            h('td', {}, h('span', { class: `badge status-${v.imageStatus}` }, v.imageStatus || '?'), ' ', showLog,
              v.preparation === 'failed' ? h('p.preparation-failed', {}, h('span.badge.status-failed', {}, 'preparation failed'), ' ', v.preparationMessage || '') : null),
            h('td', {}, isLive ? '' : h('button.secondary', { type: 'button', onclick: promote(v.number) }, `Promote version ${v.number}`))),
          h('tr.log-row', {}, h('td', { colspan: 6 }, logHost))];
        }))),
      h('h2', {}, 'Tags'), tagForm);
  }
  await load();
}

export async function tokensPage(root, params, { signal }) {
  if (!requireSession()) return;
  setTitle('API tokens');
  const status = h('div', { 'aria-live': 'polite' });
  const listHost = h('div');

  async function load() {
    const tokens = await get(path('listTokens'), { signal });
    clear(listHost, tokens.length ? h('table.manage', {},
      h('caption.offscreen', {}, 'API tokens'),
      h('thead', {}, h('tr', {}, ['Name', 'Scopes', 'Created', 'Last used', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, tokens.map((t) => h('tr', {},
        h('th', { scope: 'row' }, t.name),
        h('td', {}, (t.scopes || []).join(', ')),
        h('td', {}, formatDate(t.createdAt)),
        h('td', {}, t.lastUsedAt ? formatDate(t.lastUsedAt) : 'never'),
        h('td', {}, h('button.secondary', { type: 'button', onclick: async () => {
          try {
            await call('revokeToken', { id: t.id });
            clear(status, h('p.ok', { role: 'status' }, `Token ${t.name} revoked.`));
            await load();
          } catch (e) { clear(status, errorBox(e)); }
        } }, `Revoke ${t.name}`)))))) : h('p', {}, 'No tokens.'));
  }

  const name = h('input', { id: 'token-name', required: true, maxlength: 100, placeholder: 'my script' });
  const scopes = ['read', 'run', 'publish'].map((s) => h('input', { type: 'checkbox', value: s, checked: s !== 'publish' }));
  const form = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      const chosen = scopes.filter((x) => x.checked).map((x) => x.value);
      try {
        const { data } = await call('createToken', {}, { name: name.value.trim(), scopes: chosen });
        clear(status, h('div.card.secret', { role: 'status' },
          h('p', {}, h('strong', {}, `Token “${data.name}” created. `), 'Copy it now: it is shown only once.'),
          h('pre', { 'aria-label': 'New token' }, h('code', {}, data.token)), copyButton('Copy token', () => data.token)));
        name.value = '';
        await load();
      } catch (err) { clear(status, errorBox(err)); }
    },
  },
  h('h2', {}, 'New token'),
  h('div.form-row', {}, h('label', { for: 'token-name' }, 'Token name'), name),
  h('fieldset.choice', {}, h('legend', {}, 'Scopes'), ['read', 'run', 'publish'].map((s, i) => h('label.option', {}, scopes[i], h('span', {}, s)))),
  h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Create token')));

  clear(root, h('h1', {}, 'API tokens'),
    h('p', {}, 'Tokens let scripts and the CLI call the API as you: ', h('code', {}, 'Authorization: Bearer TOKEN'), '.'),
    form, status, h('h2', {}, 'Your tokens'), listHost, accountSection());
  await load();
}

/** The account: change the password (other sessions end), sign out everywhere (sessions and tokens). */
function accountSection() {
  const status = h('div', { 'aria-live': 'polite' });
  const field = (id, label, autocomplete) => {
    const input = h('input', { id, type: 'password', autocomplete, required: true });
    return [input, h('div.form-row', {}, h('label', { for: id }, label), input)];
  };
  const [current, currentRow] = field('pw-current', 'Current password', 'current-password');
  const [fresh, freshRow] = field('pw-new', 'New password (at least 8 characters)', 'new-password');
  const [again, againRow] = field('pw-again', 'New password again', 'new-password');
  fresh.minLength = 8;
  const passwordForm = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      if (fresh.value !== again.value) { clear(status, errorBox(new Error('The two new passwords differ.'))); return; }
      try {
        await call('changePassword', {}, { currentPassword: current.value, newPassword: fresh.value });
        passwordForm.reset();
        clear(status, h('p.ok', { role: 'status' }, 'Password changed. Your other sessions were signed out; tokens stay valid.'));
      } catch (err) { clear(status, errorBox(err)); }
    },
  }, h('h2', {}, 'Change password'), currentRow, freshRow, againRow,
  h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Change password')));

  const everywhere = h('button.secondary', { type: 'button', onclick: async () => {
    if (!window.confirm('Sign out of every browser and revoke all your API tokens (the CLI\'s too)?')) return;
    try {
      await call('logoutEverywhere');
      session.clear();
      window.dispatchEvent(new CustomEvent('feather:signedout'));
      navigate('/login', { replace: true });
    } catch (err) { clear(status, errorBox(err)); }
  } }, 'Sign out everywhere');

  return h('section', { 'aria-labelledby': 'account-heading' },
    h('h2', { id: 'account-heading' }, 'Account'), passwordForm,
    h('div.card', {}, h('h2', {}, 'Sign out everywhere'),
      h('p', {}, 'Ends every portal session of yours, this one included, and revokes all your API tokens.'),
      h('div.actions', {}, everywhere)),
    status);
}

export async function teamsPage(root, params, { signal }) {
  if (!requireSession()) return;
  setTitle('Teams');
  const status = h('div', { 'aria-live': 'polite' });
  const listHost = h('div');
  const done = (message) => clear(status, h('p.ok', { role: 'status' }, message));
  const failed = (e) => clear(status, errorBox(e));

  async function load() {
    const me = await get(path('me'), { signal });
    const teams = await Promise.all((me.teams || []).map((t) => get(path('getTeam', { team: t }), { signal })));
    clear(listHost, teams.length ? teams.map((team) => {
      const id = `member-${team.name}`;
      const input = h('input', { id, required: true, maxlength: 64, autocomplete: 'off' });
      return h('section.card', { 'aria-label': `Team ${team.name}` },
        h('h3', {}, team.name),
        h('p', {}, 'Members can publish to the team\'s models and see its private ones. ',
          h('a', { href: `/owners/${enc(team.name)}` }, `Models of ${team.name}`)),
        h('ul', { 'aria-label': `Members of ${team.name}` }, team.members.map((m) => h('li', {}, m, ' ',
          m === me.username ? null : h('button.link', { type: 'button', 'aria-label': `Remove ${m} from ${team.name}`, onclick: async () => {
            try { await call('removeTeamMember', { team: team.name, username: m }); done(`${m} left ${team.name}.`); await load(); }
            catch (e) { failed(e); }
          } }, 'Remove')))),
        h('form.form-row', { onsubmit: async (e) => {
          e.preventDefault();
          try {
            await call('addTeamMember', { team: team.name }, { username: input.value.trim() });
            done(`${input.value.trim()} joined ${team.name}.`);
            await load();
          } catch (err) { failed(err); }
        } }, h('label', { for: id }, `Add a member to ${team.name}`), input, h('button.secondary', { type: 'submit' }, 'Add')));
    }) : h('p', {}, 'You are in no team yet.'));
  }

  const name = h('input', { id: 'team-name', required: true, maxlength: 63, placeholder: 'vision-lab', autocomplete: 'off' });
  const form = h('form.card', {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const { data } = await call('createTeam', {}, { name: name.value.trim() });
        done(`Team ${data.name} created. Publish to it with feather publish --owner ${data.name}.`);
        name.value = '';
        await load();
      } catch (err) { failed(err); }
    },
  },
  h('h2', {}, 'New team'),
  h('div.form-row', {}, h('label', { for: 'team-name' }, 'Team name'), name),
  h('div.actions', {}, h('button.primary', { type: 'submit' }, 'Create team')));

  clear(root, h('h1', {}, 'Teams'),
    h('p', {}, 'A model can belong to a team instead of a person; every member can publish new versions of it.'),
    form, status, h('h2', {}, 'Your teams'), listHost);
  await load();
}
