// Registering and signing in. The bearer secret is kept in localStorage on this
// phone and sent only in the Authorization header, never in a URL.
import { api, ApiError } from '../lib/api.js';
import { $, clearErrors, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { tabs } from '../lib/page.js';
import * as store from '../lib/store.js';

function formError(form, err) {
  if (err instanceof ApiError && Object.keys(err.fields).length) {
    showFieldErrors(form, err.fields);
  } else {
    showFieldErrors(form, { _form: [err instanceof ApiError ? err.message : t('error.offline')] });
  }
}

/** onSignedIn(secret, {fresh}) is called once a secret is known to work. */
export function setupAuth(onSignedIn) {
  const select = tabs($('#auth-tabs'));
  select('register');

  const register = $('#register-form');
  register.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(register);
    const f = register.elements;
    const body = {
      name: f.name.value.trim(),
      id_number: f.id_number.value.trim().toUpperCase(),
      phone: f.phone.value.trim(),
      region: f.region.value.trim(),
    };
    const button = register.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const answer = await api('/api/v1/citizens', { method: 'POST', body });
      register.reset();
      store.save('citizen.registration', String(answer.citizen_id));
      onSignedIn(answer.token, { fresh: true });
    } catch (err) {
      formError(register, err);
    } finally {
      button.disabled = false;
    }
  });

  const signin = $('#signin-form');
  signin.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(signin);
    const secret = signin.elements.secret.value.trim();
    if (!secret) {
      showFieldErrors(signin, { secret: [t('auth.secretMissing')] });
      return;
    }
    try {
      await api('/api/v1/me/code', { secret });
      signin.reset();
      onSignedIn(secret, { fresh: false });
    } catch (err) {
      if (err instanceof ApiError && err.status === 403 && err.code === 'unverified') {
        signin.reset();
        onSignedIn(secret, { fresh: false }); // known, not yet verified: the next step says how
      } else if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        showFieldErrors(signin, { secret: [t('auth.secretUnknown')] });
      } else {
        formError(signin, err);
      }
    }
  });
  return select;
}
