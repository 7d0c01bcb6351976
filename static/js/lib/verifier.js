// The gate's offline verifier, in the browser: the same rules, in the same
// order, as checkpoints/verifier.py `verify`, with WebCrypto doing the ES256
// check (raw r||s signatures against P-256 JWKs from the offline bundle).
// It never throws on hostile input: what it cannot read is refused `malformed`.
// As there: high-S signatures are `bad_signature`, a lifetime (exp - iat) above the
// policy's cap is `expired`, and a travel gate (air, rail, hotel) admits only a pass
// whose scp is its category (`pass_required`), for every issuer.
import { b64urlToBytes, jsonPart } from './jwt.js';

export const RESTRICTABLE = new Set(['air', 'rail', 'hotel']);
const COLORS = new Set(['green', 'yellow', 'red']);
const MAX_TOKEN_BYTES = 2048;
// Order of the P-256 group: valid signature halves lie in [1, n-1].
const P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551n;
const P256_HALF_N = P256_N / 2n; // canonical (low-S) signatures have s <= n/2
const TIME_LIMIT = 2 ** 53;
const SEP = '\u0000';

function result(decision, reason, known = {}) {
  return {
    decision,
    reason,
    color: known.color ?? null,
    holder: known.holder ?? null,
    issuer: known.issuer ?? null,
    subject: known.subject ?? null,
    jti: known.jti ?? null,
    issuedAt: known.issuedAt ?? null,
    scope: known.scope ?? null,
  };
}

const refuse = (reason, known) => result('refuse', reason, known);

/** A NumericDate we can compute with: no boolean, NaN, infinity, nothing beyond 2^53 s. */
function timeValue(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  return value > -TIME_LIMIT && value < TIME_LIMIT;
}

function bigFromBytes(bytes) {
  let n = 0n;
  bytes.forEach((b) => { n = (n << 8n) | BigInt(b); });
  return n;
}

/**
 * Code changes by issuer + SEP + a token's `sub`, as checkpoints.verifier.StaticStatus
 * `changed_ms`: every `sub` is a token's own, and `void_before` makes an issuer's
 * tokens issued before that time count as changed (its status store had lost data).
 */
class Changes {
  constructor(listed, voidBefore) {
    this.listed = listed;
    this.voidBefore = voidBefore;
  }

  get(key) {
    const listed = this.listed.get(key);
    const floor = this.voidBefore.get(key.slice(0, key.indexOf(SEP)));
    if (floor === undefined) return listed;
    return listed === undefined ? floor : Math.max(listed, floor);
  }
}

function policyFrom(data) {
  if (!data || typeof data !== 'object' || !Array.isArray(data.admits)) {
    throw new Error('policy.admits must be a list');
  }
  const cap = data.max_lifetime_seconds ?? null;
  if (cap !== null && !(Number.isInteger(cap) && cap > 0)) {
    throw new Error('policy.max_lifetime_seconds must be a positive integer or null');
  }
  const category = data.category ?? 'venue';
  const requiredScope = data.required_scope ?? null;
  return {
    admits: new Set(data.admits),
    category,
    issuers: Array.isArray(data.issuers) ? new Set(data.issuers) : null,
    requiredScope,
    // travel categories need their own pass even if a policy forgot to say so
    scopeNeeded: requiredScope ?? (RESTRICTABLE.has(category) ? category : null),
    maxLifetime: cap,
  };
}

async function importJwk(jwk) {
  if (!jwk || typeof jwk !== 'object') throw new Error('a key is not a JWK object');
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.kid) return null;
  if ((jwk.alg ?? 'ES256') !== 'ES256') return null;
  try {
    return await crypto.subtle.importKey(
      'jwk', { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
      { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'],
    );
  } catch {
    return null;
  }
}

export class OfflineVerifier {
  constructor({ keys, issuers, policy, changes, revoked, restricted, clockSkew }) {
    Object.assign(this, { keys, issuers, policy, changes, revoked, restricted, clockSkew });
  }

  /** Throws Error for a bundle that is not of the documented shape. */
  static async fromBundle(bundle) {
    if (!bundle || typeof bundle !== 'object') throw new Error('a bundle is a JSON object');
    const status = bundle.status || {};
    if (typeof status !== 'object') throw new Error('status must be an object');
    if (!bundle.keys || typeof bundle.keys !== 'object') throw new Error('keys must be an object');
    const keys = new Map();
    const issuers = new Set();
    for (const [issuer, jwks] of Object.entries(bundle.keys)) {
      if (!jwks || typeof jwks !== 'object' || !Array.isArray(jwks.keys ?? [])) {
        throw new Error(`the JWKS of ${issuer} must be an object with a 'keys' list`);
      }
      for (const jwk of jwks.keys ?? []) {
        const key = await importJwk(jwk);
        if (key) {
          keys.set(issuer + SEP + jwk.kid, key);
          issuers.add(issuer);
        }
      }
    }
    const listed = new Map();
    for (const c of status.changes || []) listed.set(c.iss + SEP + c.sub, Number(c.changed_ms));
    const voidBefore = new Map();
    if (status.void_before && typeof status.void_before === 'object') {
      for (const [iss, ms] of Object.entries(status.void_before)) voidBefore.set(iss, Number(ms));
    }
    const revoked = new Set((status.revoked || []).map((r) => r.iss + SEP + r.jti));
    const restricted = status.restricted || {};
    return new OfflineVerifier({
      keys,
      issuers,
      policy: policyFrom(bundle.policy),
      changes: new Changes(listed, voidBefore),
      revoked,
      restricted: {
        category: restricted.category ?? null,
        tokens: new Set((restricted.tokens || []).map((r) => r.iss + SEP + r.sub)),
      },
      clockSkew: Number.isFinite(bundle.clock_skew_seconds) ? bundle.clock_skew_seconds : 5,
    });
  }

  /** Is this pass (`subject`: the token's own `sub`) barred for the gate's category? */
  async isRestricted(issuer, subject, category) {
    const r = this.restricted;
    return category === r.category && r.tokens.has(issuer + SEP + subject);
  }

  async signatureValid(key, parts) {
    let raw;
    try {
      raw = b64urlToBytes(parts[2]);
    } catch {
      return false;
    }
    if (raw.length !== 64) return false;
    const r = bigFromBytes(raw.slice(0, 32));
    const s = bigFromBytes(raw.slice(32));
    // Out of range, or the high-S twin (r, n - s) of a valid signature: one token, one spelling.
    if (!(r > 0n && r < P256_N && s > 0n && s <= P256_HALF_N)) return false;
    const input = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    try {
      return await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, input);
    } catch {
      return false;
    }
  }

  /** Decide one scan at `now` (a Date). */
  async verify(rawToken, now = new Date()) {
    if (typeof rawToken !== 'string' || !rawToken || rawToken.length > MAX_TOKEN_BYTES) {
      return refuse('malformed');
    }
    const token = rawToken.trim();
    const parts = token.split('.');
    if (parts.length !== 3 || !parts[0] || !parts[1]) return refuse('malformed');
    const header = jsonPart(parts[0]);
    const claims = jsonPart(parts[1]);
    if (!header || !claims) return refuse('malformed');
    // An unsecured or HMAC token is a bad signature, whatever its claims say.
    if (header.alg !== 'ES256' || !parts[2]) return refuse('bad_signature');
    const { kid } = header;
    const issuer = claims.iss;
    if (typeof issuer !== 'string') return refuse('malformed');
    const { policy } = this;
    if (!this.issuers.has(issuer) || (policy.issuers && !policy.issuers.has(issuer))) {
      return refuse('wrong_issuer', { issuer });
    }
    if (typeof kid !== 'string') return refuse('unknown_key', { issuer });
    const key = this.keys.get(issuer + SEP + kid);
    if (!key) return refuse('unknown_key', { issuer });
    if (!(await this.signatureValid(key, parts))) return refuse('bad_signature', { issuer });

    const { sub: subject, jti, hc: color, iat, exp } = claims;
    const holder = claims.nm ?? null;
    const scope = claims.scp ?? null;
    const wellFormed = typeof subject === 'string' && typeof jti === 'string'
      && COLORS.has(color) && timeValue(iat) && timeValue(exp)
      && (holder === null || typeof holder === 'string')
      && (scope === null || typeof scope === 'string');
    if (!wellFormed) return refuse('malformed', { issuer });
    const known = { color, holder, issuer, subject, jti, issuedAt: iat, scope };
    const t = now.getTime() / 1000;
    const tooLong = policy.maxLifetime !== null && exp - iat > policy.maxLifetime;
    if (exp <= t - this.clockSkew || iat > t + this.clockSkew || tooLong) {
      return refuse('expired', known);
    }
    if (policy.scopeNeeded !== null && scope !== policy.scopeNeeded) {
      return refuse('pass_required', known);
    }
    const changed = this.changes.get(issuer + SEP + subject);
    if ((changed !== undefined && changed > iat * 1000) || this.revoked.has(issuer + SEP + jti)) {
      return refuse('code_changed', known);
    }
    if (RESTRICTABLE.has(policy.category)
        && (await this.isRestricted(issuer, subject, policy.category))) {
      return refuse('restricted', known);
    }
    if (!policy.admits.has(color)) return refuse('color_not_admitted', known);
    return result('admit', 'ok', known);
  }
}
