// The code itself: the color band with the masked name and a live clock, the QR
// of a fresh signed token that renews itself, and the reasons behind the color.
import { imageUrl } from '../lib/api.js';
import { $, el, replace } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';
import { claimsOf } from '../lib/jwt.js';
import { fmtClock, fmtCountdown, fmtDateTime, fmtLongDate } from '../lib/time.js';

const POLL_MS = 20000;

/** When to ask for the next token: well before it expires (seconds after issue). */
export function renewAfter(lifetime) {
  return Math.max(5, Math.min(lifetime - 30, lifetime * 0.8));
}

export class CodeView {
  constructor(ctx) {
    this.ctx = ctx;
    this.code = null;
    this.token = null; // {jti, color, version, expiresAt, renewAt, expiresLocal, holder}
    this.qrUrl = null;
    this.renewing = null;
    this.session = 0; // bumped by stop(): answers for an earlier sign-in are dropped
    this.timers = [];
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.refresh();
    };
  }

  start() {
    this.tick();
    this.timers.push(setInterval(() => this.tick(), 1000));
    this.timers.push(setInterval(() => this.refresh(), POLL_MS));
    document.addEventListener('visibilitychange', this.onVisible);
    $('#refresh').onclick = () => this.refresh();
    return this.refresh();
  }

  stop() {
    this.session += 1;
    this.timers.forEach(clearInterval);
    this.timers = [];
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.qrUrl) URL.revokeObjectURL(this.qrUrl);
    this.qrUrl = null;
    this.code = null;
    this.token = null;
    $('#qr').hidden = true;
    $('#qr').removeAttribute('src');
  }

  /** Fetch the code; a new color or code version gets a new token at once. */
  async refresh() {
    const session = this.session;
    try {
      const code = await this.ctx.call('/api/v1/me/code');
      if (session === this.session) this.setCode(code);
    } catch (err) {
      this.ctx.report(err, $('#qr-error'));
    }
  }

  setCode(code) {
    this.code = code;
    this.render();
    const stale = !this.token || this.token.color !== code.color
      || (code.version !== undefined && this.token.version !== code.version);
    if (stale) this.renew();
    this.ctx.codeChanged(code);
  }

  renew() {
    if (!this.renewing) {
      this.renewing = this.fetchToken().finally(() => { this.renewing = null; });
    }
    return this.renewing;
  }

  async fetchToken() {
    const version = this.code ? this.code.version : undefined;
    const session = this.session;
    try {
      const issued = await this.ctx.call('/api/v1/me/tokens', { method: 'POST', body: {} });
      const claims = claimsOf(issued.token) || {};
      const lifetime = claims.exp && claims.iat ? claims.exp - claims.iat : 300;
      const now = Date.now();
      const url = await imageUrl(issued.qr_svg, this.ctx.secret);
      if (session !== this.session) {
        URL.revokeObjectURL(url);
        return;
      }
      const img = $('#qr');
      const old = this.qrUrl;
      this.qrUrl = url;
      img.src = url;
      img.alt = t('qr.alt', { color: t(`color.${issued.color}`) });
      img.dataset.jti = issued.jti;
      img.hidden = false;
      if (old) URL.revokeObjectURL(old);
      this.token = {
        jti: issued.jti,
        color: issued.color,
        version,
        holder: claims.nm || '',
        expiresAt: issued.expires_at,
        renewAt: now + renewAfter(lifetime) * 1000,
        expiresLocal: now + lifetime * 1000,
      };
      $('#qr-error').hidden = true;
      $('#band-name').textContent = this.token.holder;
      this.tick();
    } catch (err) {
      this.ctx.report(err, $('#qr-error'));
      if (this.token) this.token.renewAt = Date.now() + 10000; // try again soon
    }
  }

  tick() {
    const now = new Date();
    $('#clock').textContent = fmtClock(now);
    $('#clock-date').textContent = fmtLongDate(now);
    const token = this.token;
    const card = $('.qr-card');
    if (!token) {
      $('#qr-expiry').textContent = this.code ? t('qr.fetching') : '';
      return;
    }
    const left = (token.expiresLocal - now.getTime()) / 1000;
    card.classList.toggle('expired', left <= 0);
    $('#qr-expiry').textContent = left > 0
      ? t('qr.validUntil', { time: fmtClock(new Date(token.expiresAt)), left: fmtCountdown(left) })
      : t('qr.expired');
    if (now.getTime() >= token.renewAt) this.renew();
  }

  render() {
    const code = this.code;
    if (!code) return;
    const band = $('#band');
    band.dataset.color = code.color;
    $('#band-color').textContent = t(`color.${code.color}`);
    $('#band-name').textContent = this.token ? this.token.holder : '';
    $('#evaluated-at').textContent = fmtDateTime(code.evaluated_at);
    $('#ruleset-version').textContent = code.ruleset_version ?? '';
    $('#turns-green').textContent = turnsGreenText(code);
    replace($('#reasons'), code.reasons.map((r) => this.reasonItem(r)));
  }

  reasonItem(reason) {
    const pending = (reason.pending || []).map((p) => tOr(`pending.${p}`, p));
    return el('li', { class: 'reason', dataset: { color: reason.color || '', rule: reason.rule_id } },
      el('h3', {}, reason.summary),
      reason.until ? el('p', { class: 'until' }, t('code.until', { date: fmtDateTime(reason.until) })) : null,
      pending.length ? el('p', { class: 'pending' }, t('code.pending', { what: pending.join(', ') })) : null,
      el('ul', { class: 'facts' }, (reason.facts || []).map((f) => this.factItem(f))));
  }

  factItem(fact) {
    const appeal = this.ctx.canAppeal()
      ? el('button', {
        type: 'button',
        class: 'btn-small',
        onclick: () => this.ctx.startAppeal('code', `${fact.source}/${fact.ref}`),
      }, t('appeals.this'))
      : null;
    return el('li', { class: 'fact' },
      el('span', { class: 'fact-kind' }, tOr(`kind.${fact.kind}`, fact.kind || '')),
      ' ',
      el('span', { class: 'fact-ref' }, `${fact.source} · ${fact.ref}`),
      ' ',
      el('time', { class: 'fact-at' }, fmtDateTime(fact.at)),
      appeal);
  }
}

export function turnsGreenText(code) {
  if (code.color === 'green') return t('code.allClear');
  if (code.turns_green_at) return t('code.turnsGreen', { date: fmtDateTime(code.turns_green_at) });
  return t('code.turnsGreenPending');
}
