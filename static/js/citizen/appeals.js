// The holder's appeals: against a record behind the code (target_id
// "source/ref") or a restriction (its number), and where each one stands.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';
import { fmtDateTime } from '../lib/time.js';

export function appealItem(a) {
  return el('article', { class: 'appeal', dataset: { state: a.state, overdue: String(!!a.overdue) } },
    el('h3', {}, `#${a.id} · ${tOr(`appeals.target.${a.target}`, a.target)}`,
      a.target_id ? ` · ${a.target_id}` : '', ' ',
      el('span', { class: `badge badge-${a.state}` }, tOr(`appeals.state.${a.state}`, a.state)),
      a.overdue ? el('span', { class: 'badge badge-overdue' }, t('appeals.overdue')) : null),
    el('p', {}, a.reason),
    el('p', { class: 'meta' }, t('appeals.filed', { at: fmtDateTime(a.created_at) }),
      a.deadline ? ` · ${t('appeals.deadline', { at: fmtDateTime(a.deadline) })}` : ''),
    a.decision_note ? el('p', { class: 'decision' }, t('appeals.decision', {
      note: a.decision_note, at: fmtDateTime(a.decided_at),
    })) : null);
}

export class Appeals {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $('#appeal-form');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  get offered() {
    return this.ctx.offers('POST /api/v1/me/appeals');
  }

  show() {
    $('#appeals-unavailable').hidden = this.offered;
    this.form.hidden = !this.offered;
    if (this.offered) this.load();
  }

  prefill(target, targetId) {
    this.form.elements.target.value = target;
    this.form.elements.target_id.value = targetId || '';
    this.form.elements.reason.focus();
  }

  async load() {
    if (!this.ctx.offers('GET /api/v1/me/appeals')) return;
    try {
      const answer = await this.ctx.call('/api/v1/me/appeals');
      const list = answer.appeals || [];
      replace($('#appeals-list'), list.length ? list.map(appealItem)
        : el('p', { class: 'hint' }, t('appeals.none')));
    } catch (err) {
      this.ctx.report(err, $('#appeals-list'));
    }
  }

  async submit() {
    const form = this.form;
    const status = $('#appeal-status');
    clearErrors(form);
    setStatus(status, '');
    const body = { target: form.elements.target.value, reason: form.elements.reason.value.trim() };
    const targetId = form.elements.target_id.value.trim();
    const evidence = form.elements.evidence.value.trim();
    if (targetId) body.target_id = targetId;
    if (evidence) body.evidence = evidence;
    try {
      const filed = await this.ctx.call('/api/v1/me/appeals', { method: 'POST', body });
      form.reset();
      setStatus(status, t('appeals.sent', { id: filed.id }), 'ok');
      this.load();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) {
        showFieldErrors(form, err.fields);
        setStatus(status, t('form.fix'), 'error');
      } else {
        this.ctx.report(err, status);
      }
    }
  }
}
