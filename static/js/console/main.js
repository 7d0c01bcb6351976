// The officials' console: sign-in and the panels, each loaded when shown.
import { api, ApiError, NetworkError, offered } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { onLangChange, t } from '../lib/i18n.js';
import { initPage, tabs } from '../lib/page.js';
import * as store from '../lib/store.js';
import { AuditPanel } from './audit.js';
import { CheckpointsPanel } from './checkpoints.js';
import { DashboardPanel } from './dashboard.js';
import { QueuePanel } from './queue.js';
import { RulesPanel } from './rules.js';
import { TracingPanel } from './tracing.js';

initPage();

const ctx = {
  secret: store.load('console.secret', null, sessionStorage),
  region: null,
  features: new Set(),
  offers(route) {
    return this.features.has(route);
  },
  async call(path, options = {}) {
    try {
      return await api(path, { ...options, secret: this.secret });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signOut(t('auth.expired'));
      throw err;
    }
  },
  report(err, node) {
    let text = err instanceof NetworkError ? t('error.offline') : err.message;
    if (err instanceof ApiError && err.status >= 500) text = t('error.server');
    if (node.classList.contains('status')) setStatus(node, text, 'error');
    else replace(node, el('p', { class: 'error', role: 'alert' }, text));
  },
};

const panels = {
  dashboard: new DashboardPanel(ctx),
  rules: new RulesPanel(ctx),
  audit: new AuditPanel(ctx),
  appeals: new QueuePanel(ctx),
  checkpoints: new CheckpointsPanel(ctx),
  tracing: null,
};
panels.tracing = new TracingPanel(ctx);
let current = null;

const select = tabs($('#tabs'), (name) => {
  current = name;
  const panel = panels[name];
  if (panel && panel.load) panel.load();
});

async function enter(active) {
  ctx.region = active.region;
  $('#region').textContent = t('console.region', { region: active.region });
  $('#loading').hidden = true;
  $('#auth').hidden = true;
  $('#app').hidden = false;
  $('#sign-out').hidden = false;
  select(ctx.offers('GET /api/v1/stats/colors') ? 'dashboard' : 'rules');
}

function signOut(message) {
  ctx.secret = null;
  store.forget('console.secret');
  $('#app').hidden = true;
  $('#sign-out').hidden = true;
  $('#region').textContent = '';
  $('#auth').hidden = false;
  replace($('#signin-form [data-field="_form"]'),
    message ? el('p', { class: 'field-error', role: 'alert' }, message) : null);
}

$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const secret = form.elements.secret.value.trim();
  if (!secret) {
    showFieldErrors(form, { secret: [t('auth.secretMissing')] });
    return;
  }
  try {
    const active = await api('/api/v1/rulesets/active', { secret });
    ctx.secret = secret;
    store.save('console.secret', secret, sessionStorage);
    form.reset();
    enter(active);
  } catch (err) {
    const unknown = err instanceof ApiError && (err.status === 401 || err.status === 403);
    showFieldErrors(form, { secret: [unknown ? t('console.notOfficial') : err.message] });
  }
});
$('#sign-out').addEventListener('click', () => signOut());
onLangChange(() => {
  panels.checkpoints.fillCategories();
  if (ctx.region) $('#region').textContent = t('console.region', { region: ctx.region });
  const panel = panels[current];
  if (current === 'rules') panel.editor.render(); // relabel, keeping unsaved edits
  else if (panel && panel.load) panel.load();
});

async function start() {
  ctx.features = await offered();
  $('#tabs [data-tab="appeals"]').hidden = !ctx.offers('GET /api/v1/appeals');
  $('#tabs [data-tab="dashboard"]').hidden = !ctx.offers('GET /api/v1/stats/colors');
  if (!ctx.secret) {
    $('#loading').hidden = true;
    $('#auth').hidden = false;
    return;
  }
  try {
    enter(await ctx.call('/api/v1/rulesets/active'));
  } catch (err) {
    $('#loading').hidden = true;
    if (ctx.secret) {
      $('#auth').hidden = false;
      replace($('#signin-form [data-field="_form"]'), el('p', { class: 'field-error', role: 'alert' },
        err instanceof NetworkError ? t('error.offline') : err.message));
    }
  }
}

start();
