// Checkpoints of the region, registering new ones, and making device secrets.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';

export const CATEGORIES = ['venue', 'school', 'residential', 'workplace', 'transit', 'rail', 'air', 'hotel'];

/** Offline scans the gate admitted that the server would have refused: count and reasons. */
function disagreements(d) {
  if (!d || !d.count) return '0';
  const reasons = Object.entries(d.reasons || {}).map(([r, n]) => `${tOr(`reason.${r}`, r)}: ${n}`);
  return `${d.count} (${reasons.join('; ')})`;
}

export class CheckpointsPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $('#checkpoint-form');
    this.fillCategories();
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.create();
    });
    $('#device-secret-done').addEventListener('click', () => {
      $('#device-secret').hidden = true;
      $('#device-secret-value').textContent = '';
    });
  }

  fillCategories() {
    const select = this.form.elements.category;
    const chosen = select.value || 'venue';
    replace(select, CATEGORIES.map((c) => el('option', { value: c, selected: c === chosen }, tOr(`category.${c}`, c))));
  }

  async load() {
    if (!this.form.elements.region.value) this.form.elements.region.value = this.ctx.region || '';
    try {
      const answer = await this.ctx.call('/api/v1/checkpoints');
      const list = answer.checkpoints || [];
      replace($('#checkpoint-list'), list.length ? el('div', { class: 'table-wrap' }, el('table', {},
        el('thead', {}, el('tr', {}, ['checkpoints.id', 'checkpoints.name', 'checkpoints.category',
          'field.region', 'checkpoints.admits', 'checkpoints.disagreements', 'checkpoints.devices',
        ].map((k) => el('th', {}, t(k))))),
        el('tbody', {}, list.map((c) => el('tr', { dataset: { id: c.checkpoint_id } },
          el('td', {}, String(c.checkpoint_id)),
          el('td', {}, c.name),
          el('td', {}, tOr(`category.${c.category}`, c.category)),
          el('td', {}, c.region),
          el('td', {}, (c.admits || []).map((x) => t(`color.${x}`)).join(', ')),
          el('td', { class: 'disagreements' }, disagreements(c.disagreements)),
          el('td', {}, el('button', {
            type: 'button', class: 'btn-small', onclick: () => this.device(c),
          }, t('checkpoints.newDevice'))))))))
        : el('p', { class: 'hint' }, t('checkpoints.none')));
    } catch (err) {
      this.ctx.report(err, $('#checkpoint-list'));
    }
  }

  async create() {
    const form = this.form;
    clearErrors(form);
    const f = form.elements;
    const body = {
      name: f.name.value.trim(),
      category: f.category.value,
      region: f.region.value.trim(),
      admits: [...form.querySelectorAll('input[name="admits"]:checked')].map((b) => b.value),
    };
    try {
      const made = await this.ctx.call('/api/v1/checkpoints', { method: 'POST', body });
      f.name.value = '';
      setStatus($('#checkpoint-status'), t('checkpoints.created', { id: made.checkpoint_id }), 'ok');
      await this.load();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) showFieldErrors(form, err.fields);
      else this.ctx.report(err, $('#checkpoint-status'));
    }
  }

  async device(checkpoint) {
    try {
      const made = await this.ctx.call(`/api/v1/checkpoints/${checkpoint.checkpoint_id}/devices`,
        { method: 'POST', body: {} });
      $('#device-secret-value').textContent = made.token;
      $('#device-secret').hidden = false;
      $('#device-secret').scrollIntoView({ block: 'center' });
    } catch (err) {
      this.ctx.report(err, $('#checkpoint-status'));
    }
  }
}
