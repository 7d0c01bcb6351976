// The appeals queue: open appeals, overdue ones first, each with its decision form;
// read a page at a time (the answer's next_cursor), "More appeals" for the next.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, showFieldErrors } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';
import { fmtDateTime } from '../lib/time.js';

/** Open before decided, overdue before on time, earliest deadline first. */
export function queueOrder(a, b) {
  const rank = (x) => (x.state === 'open' ? 0 : 2) - (x.overdue ? 1 : 0);
  return rank(a) - rank(b) || String(a.deadline).localeCompare(String(b.deadline)) || a.id - b.id;
}

/** Appeals asked for at a time; "More appeals" fetches the next page. */
export const PAGE_SIZE = 25;

export class QueuePanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.appeals = new Map(); // id -> appeal, every page loaded so far
    this.cursor = null;
    this.generation = 0; // a page asked for before the last reload is dropped
    $('#queue-more').addEventListener('click', () => this.more());
  }

  async load() {
    const offered = this.ctx.offers('GET /api/v1/appeals');
    $('#queue-unavailable').hidden = offered;
    if (!offered) return;
    this.appeals.clear();
    this.cursor = null;
    this.generation += 1;
    await this.fetchPage(null, $('#queue'));
  }

  async more() {
    if (this.cursor) await this.fetchPage(this.cursor, $('#queue-status'));
  }

  async fetchPage(cursor, errorNode) {
    const params = new URLSearchParams({ limit: PAGE_SIZE });
    if (cursor) params.set('cursor', cursor);
    const more = $('#queue-more');
    const generation = this.generation;
    more.disabled = true;
    $('#queue-status').hidden = true;
    try {
      const answer = await this.ctx.call(`/api/v1/appeals?${params}`);
      if (generation !== this.generation) return;
      // One decided since the first page comes again among the decided: keep the newer.
      for (const a of answer.appeals || []) this.appeals.set(a.id, a);
      this.cursor = answer.next_cursor || null;
      this.render();
    } catch (err) {
      this.ctx.report(err, errorNode);
    } finally {
      more.disabled = false;
    }
  }

  render() {
    const list = [...this.appeals.values()].sort(queueOrder);
    replace($('#queue'), list.length ? list.map((a) => this.item(a))
      : el('p', { class: 'hint' }, t('queue.none')));
    $('#queue-more').hidden = !this.cursor;
  }

  item(a) {
    const form = a.state === 'open' ? el('form', { class: 'decision-form', novalidate: true },
      el('div', { class: 'field', dataset: { field: 'outcome' } },
        el('label', { for: `outcome-${a.id}` }, t('queue.outcome')),
        el('select', { id: `outcome-${a.id}`, name: 'outcome' },
          el('option', { value: 'upheld' }, t('appeals.state.upheld')),
          el('option', { value: 'corrected' }, t('appeals.state.corrected')))),
      el('div', { class: 'field', dataset: { field: 'note' } },
        el('label', { for: `note-${a.id}` }, t('queue.note')),
        el('input', { id: `note-${a.id}`, name: 'note', maxlength: 2000 })),
      el('div', { dataset: { field: '_form' } }),
      el('button', { type: 'submit', class: 'btn-primary' }, t('queue.decide'))) : null;
    if (form) {
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.decide(a, form);
      });
    }
    return el('article', { class: 'appeal card', dataset: { state: a.state, overdue: String(!!a.overdue), id: a.id } },
      el('h3', {}, `#${a.id} · ${tOr(`appeals.target.${a.target}`, a.target)}`,
        a.target_id ? ` · ${a.target_id}` : '', ' ',
        el('span', { class: `badge badge-${a.state}` }, tOr(`appeals.state.${a.state}`, a.state)),
        a.overdue ? el('span', { class: 'badge badge-overdue' }, t('appeals.overdue')) : null),
      el('p', {}, a.reason),
      a.evidence ? el('p', { class: 'meta' }, t('queue.evidence', { text: a.evidence })) : null,
      el('p', { class: 'meta' }, t('appeals.filed', { at: fmtDateTime(a.created_at) }), ' · ',
        t('appeals.deadline', { at: fmtDateTime(a.deadline) })),
      a.decision_note ? el('p', { class: 'decision' }, t('appeals.decision', {
        note: a.decision_note, at: fmtDateTime(a.decided_at),
      })) : null,
      form);
  }

  async decide(appeal, form) {
    clearErrors(form);
    try {
      const decided = await this.ctx.call(`/api/v1/appeals/${appeal.id}/decision`, {
        method: 'POST',
        body: { outcome: form.elements.outcome.value, note: form.elements.note.value.trim() },
      });
      this.appeals.set(decided.id, decided); // in place: the pages loaded stay loaded
      this.render();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) showFieldErrors(form, err.fields);
      else showFieldErrors(form, { _form: [err.message] });
    }
  }
}
