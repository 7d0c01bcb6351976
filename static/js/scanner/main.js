// The checkpoint scanner: a device signs in with its secret, reads QR codes
// with the camera (or takes pasted text), asks the service online, and when the
// network is gone decides on the device with the offline bundle, queueing the
// scans for upload.
import { api, ApiError, NetworkError } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { onLangChange, t, tOr } from '../lib/i18n.js';
import { initPage } from '../lib/page.js';
import * as store from '../lib/store.js';
import { fmtClock } from '../lib/time.js';
import { Camera } from './camera.js';
import { OfflineData } from './offline.js';
import { ResultView } from './result.js';

const SYNC_MS = 10000;
const BUNDLE_MS = 60000;
const STALE_BUNDLE_MS = 10 * 60000;
const REPEAT_MS = 4000; // the same code held in front of the camera is read once

initPage();

let secret = store.load('scanner.secret');
let online = navigator.onLine;
let busy = false;
let last = { text: '', at: 0 };
let loopTimer = null;

async function call(path, options = {}) {
  try {
    const answer = await api(path, { ...options, secret });
    setNet(true);
    return answer;
  } catch (err) {
    if (err instanceof NetworkError) setNet(false);
    if (err instanceof ApiError && err.status === 401) signOut(t('auth.expired'));
    throw err;
  }
}

const offline = new OfflineData(call);
const results = new ResultView(() => {
  camera.paused = false;
});
const camera = new Camera($('#video'), (text) => scanned(text));
const forceOffline = $('#force-offline');

function setNet(value) {
  online = value;
  renderStatus();
}

function renderStatus() {
  const net = $('#net');
  const state = forceOffline.checked ? 'forced' : (online ? 'online' : 'offline');
  net.dataset.net = state;
  net.textContent = t(`scanner.net.${state}`);
  $('#queued').textContent = String(offline.queue.length);
  const age = $('#bundle-age');
  const bundle = offline.bundle;
  if (!bundle) {
    age.dataset.state = 'none';
    age.textContent = t('scanner.bundleNone');
  } else {
    const received = new Date(bundle.received_at || bundle.issued_at);
    age.dataset.cursor = bundle.status_cursor || '';
    age.dataset.state = Date.now() - received.getTime() > STALE_BUNDLE_MS ? 'stale' : 'fresh';
    age.textContent = t('scanner.bundleAt', { time: fmtClock(received) });
    const policy = bundle.policy || {};
    $('#checkpoint-info').textContent = t('scanner.policy', {
      category: tOr(`category.${policy.category}`, policy.category || ''),
      admits: (policy.admits || []).map((c) => t(`color.${c}`)).join(', '),
    });
  }
}

/** Online first; when the service cannot be reached, on this device. */
async function decide(token) {
  const scanId = crypto.randomUUID();
  if (!forceOffline.checked) {
    try {
      const answer = await call('/api/v1/scans', { method: 'POST', body: { token, scan_id: scanId } });
      return { ...answer, offline: false };
    } catch (err) {
      // Unreachable, overloaded or failing: the gate keeps working on its own.
      const unavailable = err instanceof NetworkError
        || (err instanceof ApiError && (err.status === 429 || err.status >= 500));
      if (!unavailable) throw err;
    }
  }
  const decision = await offline.decide(token, scanId);
  renderStatus();
  return { ...decision, offline: true };
}

async function scanned(text) {
  const token = String(text || '').trim();
  if (!token || busy) return;
  const now = Date.now();
  if (token === last.text && now - last.at < REPEAT_MS) return;
  busy = true;
  camera.paused = true;
  try {
    const result = await decide(token);
    last = { text: token, at: Date.now() + 3500 };
    results.show(result);
  } catch (err) {
    camera.paused = false;
    setStatus($('#sync-status'), err.message, 'error');
  } finally {
    busy = false;
  }
}

async function sync() {
  if (forceOffline.checked) return;
  try {
    const answers = await offline.sync();
    if (answers.length) {
      const accepted = answers.reduce((n, a) => n + (a.accepted || 0) + (a.duplicates || 0), 0);
      setStatus($('#sync-status'), t('scanner.uploaded', { n: accepted }), 'ok');
    }
    const bundle = offline.bundle;
    const age = bundle ? Date.now() - new Date(bundle.received_at || 0).getTime() : Infinity;
    if (age > BUNDLE_MS) await offline.refresh();
  } catch (err) {
    if (!(err instanceof NetworkError)) setStatus($('#sync-status'), err.message, 'error');
  } finally {
    renderStatus();
  }
}

async function startCamera() {
  const finder = $('#viewfinder');
  try {
    await camera.start();
    finder.dataset.state = 'on';
    $('#camera-start').hidden = true;
    $('#camera-stop').hidden = false;
  } catch (err) {
    finder.dataset.state = 'error';
    $('#camera-message').textContent = t('scanner.noCamera', { why: err.name || err.message });
  }
}

function stopCamera() {
  camera.stop();
  $('#viewfinder').dataset.state = 'off';
  $('#camera-message').textContent = t('scanner.cameraOff');
  $('#camera-start').hidden = false;
  $('#camera-stop').hidden = true;
}

function enterApp() {
  $('#loading').hidden = true;
  $('#auth').hidden = true;
  $('#app').hidden = false;
  $('#sign-out').hidden = false;
  renderStatus();
  clearInterval(loopTimer);
  loopTimer = setInterval(sync, SYNC_MS);
  sync();
}

function signOut(message) {
  stopCamera();
  clearInterval(loopTimer);
  secret = null;
  store.forget('scanner.secret', 'scanner.counts');
  offline.forget();
  $('#app').hidden = true;
  $('#sign-out').hidden = true;
  $('#auth').hidden = false;
  const slot = $('#device-form [data-field="_form"]');
  replace(slot, message ? el('p', { class: 'field-error', role: 'alert' }, message) : null);
}

$('#device-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const candidate = form.elements.secret.value.trim();
  if (!candidate) {
    showFieldErrors(form, { secret: [t('auth.secretMissing')] });
    return;
  }
  secret = candidate;
  try {
    offline.forget();
    await offline.refresh(); // only a checkpoint device may fetch its bundle
    store.save('scanner.secret', secret);
    form.reset();
    enterApp();
  } catch (err) {
    secret = null;
    const unknown = err instanceof ApiError && (err.status === 401 || err.status === 403);
    showFieldErrors(form, { secret: [unknown ? t('scanner.notADevice') : err.message] });
  }
});

$('#paste-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const box = event.target.elements.token;
  last = { text: '', at: 0 }; // a pasted code is always checked
  scanned(box.value).then(() => { box.value = ''; });
});
$('#camera-start').addEventListener('click', startCamera);
$('#camera-stop').addEventListener('click', stopCamera);
$('#sign-out').addEventListener('click', () => signOut());
$('#sync-now').addEventListener('click', sync);
$('#bundle-refresh').addEventListener('click', async () => {
  try {
    await offline.refresh();
  } catch (err) {
    setStatus($('#sync-status'), err instanceof NetworkError ? t('error.offline') : err.message, 'error');
  }
  renderStatus();
});
forceOffline.addEventListener('change', () => {
  renderStatus();
  if (!forceOffline.checked) sync();
});
window.addEventListener('online', () => { setNet(true); sync(); });
window.addEventListener('offline', () => setNet(false));
onLangChange(renderStatus);

if (secret) {
  offline.ready().then(enterApp);
} else {
  $('#loading').hidden = true;
  $('#auth').hidden = false;
}
