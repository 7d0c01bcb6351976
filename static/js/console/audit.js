// The audit log, newest first, filtered by action, actor and time.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { fmtDateTime, fromLocalInput } from '../lib/time.js';

const PER_PAGE = 25;

export class AuditPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.page = 1;
    this.total = 0;
    this.form = $('#audit-form');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.page = 1;
      this.load();
    });
    $('#audit-prev').addEventListener('click', () => { this.page -= 1; this.load(); });
    $('#audit-next').addEventListener('click', () => { this.page += 1; this.load(); });
  }

  query() {
    const f = this.form.elements;
    const params = new URLSearchParams({ page: this.page, per_page: PER_PAGE });
    if (f.action.value.trim()) params.set('action', f.action.value.trim());
    if (f.actor.value) params.set('actor', f.actor.value);
    if (f.since.value) params.set('since', fromLocalInput(f.since.value));
    if (f.until.value) params.set('until', fromLocalInput(f.until.value));
    return params;
  }

  async load() {
    clearErrors(this.form);
    try {
      const answer = await this.ctx.call(`/api/v1/audit?${this.query()}`);
      this.total = answer.total;
      this.render(answer.entries || []);
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) showFieldErrors(this.form, err.fields);
      else this.ctx.report(err, $('#audit-table'));
    }
  }

  render(entries) {
    const pages = Math.max(1, Math.ceil(this.total / PER_PAGE));
    $('#audit-page').textContent = t('audit.page', { page: this.page, pages, total: this.total });
    $('#audit-prev').disabled = this.page <= 1;
    $('#audit-next').disabled = this.page >= pages;
    replace($('#audit-table'), entries.length ? el('div', { class: 'table-wrap' }, el('table', { class: 'audit' },
      el('thead', {}, el('tr', {}, ['audit.at', 'audit.who', 'audit.action', 'audit.target', 'audit.reason',
        'audit.detail'].map((k) => el('th', {}, t(k))))),
      el('tbody', {}, entries.map((e) => el('tr', { dataset: { action: e.action } },
        el('td', {}, fmtDateTime(e.at)),
        el('td', {}, `${e.actor_name || '—'} (#${e.actor_id ?? '—'}, ${e.role})`),
        el('td', { class: 'mono' }, e.action),
        el('td', { class: 'mono' }, e.target),
        el('td', {}, e.reason || ''),
        el('td', { class: 'mono detail' }, JSON.stringify(e.detail || {}))))))) 
      : el('p', { class: 'hint' }, t('audit.none')));
  }
}
