// Identity before data: a new registration sees nothing until it is verified, by a
// one-time code sent to the phone the government holds for the ID number, or one
// handed over at a service counter.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, setStatus, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import * as store from '../lib/store.js';

/** show(registrationNumber) opens the step; onVerified() is called once it is done. */
export function setupVerify(ctx, onVerified) {
  const section = $('#verify');
  const status = $('#verify-status');
  const form = $('#verify-form');

  $('#verify-sms').addEventListener('click', async () => {
    try {
      await ctx.call('/api/v1/me/verification', { method: 'POST', body: { method: 'sms' } });
      setStatus(status, t('verify.smsSent'), 'info');
      form.elements.code.focus();
    } catch (err) {
      ctx.report(err, status);
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const code = form.elements.code.value.trim();
    if (!/^[0-9]{6}$/.test(code)) {
      showFieldErrors(form, { code: [t('verify.codeFormat')] });
      return;
    }
    try {
      await ctx.call('/api/v1/me/verification/confirm', { method: 'POST', body: { code } });
      form.reset();
      section.hidden = true;
      store.forget('citizen.registration');
      onVerified();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) {
        showFieldErrors(form, err.fields);
      } else {
        ctx.report(err, status);
      }
    }
  });

  return function show() {
    const number = store.load('citizen.registration');
    $('#verify-number').textContent = number || t('verify.numberUnknown');
    setStatus(status, '', 'info');
    section.hidden = false;
  };
}

/** True when the service refuses because this registration is not verified yet. */
export function needsVerification(err) {
  return err instanceof ApiError && err.status === 403 && err.code === 'unverified';
}
