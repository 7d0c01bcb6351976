// Contact tracing: leads from check-ins near the case's visits, and importing
// them as secondary contacts. Both ask for a reason that goes on the audit log.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { fmtDateTime } from '../lib/time.js';

export class TracingPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $('#tracing-form');
    this.lastBody = null;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.find();
    });
    this.form.addEventListener('input', () => {
      $('#tracing-import').disabled = true;
    });
    $('#tracing-import').addEventListener('click', () => this.importLeads());
  }

  body() {
    const f = this.form.elements;
    const body = {
      case: { [f.by.value]: f.case.value.trim() },
      reason: f.reason.value.trim(),
      days: f.days.value === '' ? 14 : Number(f.days.value),
    };
    if (f.window_minutes.value !== '') body.window_minutes = Number(f.window_minutes.value);
    return body;
  }

  async send(path, body) {
    clearErrors(this.form);
    setStatus($('#tracing-status'), '');
    try {
      return await this.ctx.call(path, { method: 'POST', body });
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) showFieldErrors(this.form, err.fields);
      else this.ctx.report(err, $('#tracing-status'));
      return null;
    }
  }

  async find() {
    const body = this.body();
    const answer = await this.send('/api/v1/tracing/leads', body);
    if (!answer) return;
    this.lastBody = body;
    const leads = answer.leads || [];
    $('#tracing-import').disabled = leads.length === 0;
    setStatus($('#tracing-status'), t('tracing.found', { visits: answer.case_visits, leads: leads.length }), 'ok');
    this.render(leads);
  }

  async importLeads() {
    if (!this.lastBody) return;
    const answer = await this.send('/api/v1/tracing/import', this.lastBody);
    if (!answer) return;
    $('#tracing-import').disabled = true;
    setStatus($('#tracing-status'), t('tracing.imported', answer), 'ok');
    this.render(answer.leads || []);
  }

  render(leads) {
    replace($('#tracing-leads'), leads.length ? el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['tracing.subject', 'tracing.checkpoint', 'tracing.caseVisit',
        'tracing.visit', 'tracing.gap'].map((k) => el('th', {}, t(k))))),
      el('tbody', {}, leads.map((l) => el('tr', {},
        el('td', { class: 'mono' }, l.subject),
        el('td', {}, l.checkpoint_name || `#${l.checkpoint_id}`),
        el('td', {}, fmtDateTime(l.case_visit_at)),
        el('td', {}, fmtDateTime(l.visit_at)),
        el('td', {}, String(l.gap_minutes)))))))
      : null);
  }
}
