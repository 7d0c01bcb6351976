// The one way the pages talk to the service: JSON over fetch, the bearer secret
// in the Authorization header, the page's language in Accept-Language, and the
// service's error shape {"error": {code, message, fields}} as an ApiError.
import { acceptLanguage } from './i18n.js';

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.fields = error.fields || {};
    this.body = body || {};
  }
}

/** The request never reached the service (offline, DNS, connection refused). */
export class NetworkError extends Error {}

function headers(secret, extra = {}) {
  const h = { 'Accept-Language': acceptLanguage(), ...extra };
  if (secret) h.Authorization = `Bearer ${secret}`;
  return h;
}

async function send(path, { method = 'GET', body, secret, signal } = {}) {
  try {
    return await fetch(path, {
      method,
      headers: headers(secret, body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new NetworkError(err.message);
  }
}

/** api('/api/v1/me/code', {secret}) -> parsed JSON; throws ApiError or NetworkError. */
export async function api(path, options = {}) {
  const response = await send(path, options);
  const type = response.headers.get('Content-Type') || '';
  let data = null;
  if (type.includes('json')) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Fetch an image with the bearer header and return an object URL for <img src>. */
export async function imageUrl(path, secret) {
  const response = await send(path, { secret });
  if (!response.ok) {
    const body = (response.headers.get('Content-Type') || '').includes('json')
      ? await response.json().catch(() => null) : null;
    throw new ApiError(response.status, body);
  }
  return URL.createObjectURL(await response.blob());
}

let features = null;

/**
 * The routes the service offers, as a Set of "METHOD /path" from its OpenAPI
 * document: the pages hide what the service does not offer yet.
 */
export function offered() {
  if (!features) {
    features = fetch('/api/v1/openapi.json', { cache: 'no-store', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => {
        const set = new Set();
        for (const [path, ops] of Object.entries(doc.paths || {})) {
          for (const method of Object.keys(ops)) set.add(`${method.toUpperCase()} ${path}`);
        }
        return set;
      })
      .catch(() => new Set());
  }
  return features;
}
