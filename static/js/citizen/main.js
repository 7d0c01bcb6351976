// The citizen's page: wires sign-in, the code view, reports, notices, appeals
// and "my data" around one context object.
import { api, ApiError, NetworkError, offered } from '../lib/api.js';
import { $, el, replace, setStatus } from '../lib/dom.js';
import { onLangChange, t } from '../lib/i18n.js';
import { copyText, initPage, tabs } from '../lib/page.js';
import * as store from '../lib/store.js';
import { Appeals } from './appeals.js';
import { setupAuth } from './auth.js';
import { CodeView } from './code.js';
import { setupReports, showDailyReport } from './forms.js';
import { MyData } from './mydata.js';
import { loadNotices } from './notices.js';
import { needsVerification, setupVerify } from './verify.js';

initPage();

const ctx = {
  secret: store.load('citizen.secret'),
  features: new Set(),
  offers(route) {
    return this.features.has(route);
  },
  canAppeal() {
    return this.offers('POST /api/v1/me/appeals');
  },
  async call(path, options = {}) {
    try {
      return await api(path, { ...options, secret: this.secret });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signOut(t('auth.expired'));
      throw err;
    }
  },
  /** Show what went wrong in `node` (a status line or a container). */
  report(err, node) {
    let text = err instanceof NetworkError ? t('error.offline') : err.message;
    if (err instanceof ApiError && err.status >= 500) text = t('error.server');
    if (node.classList.contains('status') || node.id === 'qr-error') {
      setStatus(node, text, 'error');
    } else {
      replace(node, el('p', { class: 'error', role: 'alert' }, text));
    }
  },
  startAppeal(target, targetId) {
    selectTab('appeals');
    appeals.prefill(target, targetId);
  },
  codeChanged(code) {
    showDailyReport(ctx, code);
  },
};

const codeView = new CodeView(ctx);
ctx.codeView = codeView;
const appeals = new Appeals(ctx);
const myData = new MyData(ctx);
setupReports(ctx);

const selectTab = tabs($('#tabs'), (name) => {
  if (name === 'notices') loadNotices(ctx);
  if (name === 'appeals') appeals.show();
  if (name === 'data') myData.show();
});

function showAuth(message) {
  $('#app').hidden = true;
  $('#sign-out').hidden = true;
  $('#auth').hidden = false;
  if (message) {
    replace($('#signin-form [data-field="_form"]'), el('p', { class: 'field-error', role: 'alert' }, message));
    selectAuth('signin');
  }
}

const showVerify = setupVerify(ctx, () => enterApp({}));

async function enterApp({ fresh }) {
  $('#auth').hidden = true;
  $('#sign-out').hidden = false;
  if (fresh !== undefined) $('#secret-once').hidden = !fresh; // undefined: as it is
  if (fresh) $('#secret-value').textContent = ctx.secret;
  try {
    await ctx.call('/api/v1/me/code');
  } catch (err) {
    if (needsVerification(err)) {
      showVerify();
      return;
    }
  }
  $('#app').hidden = false;
  selectTab('why');
  codeView.start();
  loadNotices(ctx);
}

function signOut(message) {
  codeView.stop();
  ctx.secret = null;
  store.forget('citizen.secret');
  $('#secret-once').hidden = true;
  $('#verify').hidden = true;
  replace($('#data-view'));
  showAuth(message);
}

const selectAuth = setupAuth((secret, how) => {
  ctx.secret = secret;
  store.save('citizen.secret', secret);
  enterApp(how);
});

$('#sign-out').addEventListener('click', () => signOut());
$('#secret-copy').addEventListener('click', () => copyText(ctx.secret || ''));
$('#secret-done').addEventListener('click', () => {
  $('#secret-once').hidden = true;
  $('#secret-value').textContent = '';
});
onLangChange(() => {
  if (!ctx.secret) return;
  codeView.refresh(); // the reasons come back in the new language
  loadNotices(ctx);
});

async function start() {
  ctx.features = await offered();
  $('#loading').hidden = true;
  if (ctx.secret) enterApp({ fresh: false });
  else showAuth();
}

start();
