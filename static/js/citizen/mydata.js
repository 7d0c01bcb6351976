// "My data": everything the service keeps about the holder, shown as tables,
// downloadable as JSON, and who among officials has read it.
import { $, el, replace } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';

function cell(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A generic view: objects as definition lists, lists of objects as tables. */
export function renderValue(value) {
  if (Array.isArray(value)) {
    if (!value.length) return el('p', { class: 'hint' }, t('data.empty'));
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      return el('ul', {}, value.map((v) => el('li', {}, cell(v))));
    }
    const columns = [...new Set(value.flatMap((row) => Object.keys(row || {})))];
    return el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', {}, tOr(`data.col.${c}`, c))))),
      el('tbody', {}, value.map((row) => el('tr', {}, columns.map((c) => el('td', {}, cell(row[c]))))))));
  }
  if (value && typeof value === 'object') {
    return el('dl', {}, Object.entries(value).flatMap(([k, v]) => [
      el('dt', {}, tOr(`data.col.${k}`, k)), el('dd', {}, cell(v))]));
  }
  return el('p', {}, cell(value));
}

export class MyData {
  constructor(ctx) {
    this.ctx = ctx;
    this.data = null;
    $('#data-load').addEventListener('click', () => this.load());
    $('#data-download').addEventListener('click', () => this.download());
  }

  show() {
    const offered = this.ctx.offers('GET /api/v1/me/data');
    $('#data-unavailable').hidden = offered;
    $('#data-load').hidden = !offered;
    $('#data-download').hidden = !offered;
  }

  async load() {
    try {
      const calls = [this.ctx.call('/api/v1/me/data')];
      if (this.ctx.offers('GET /api/v1/me/access-log')) calls.push(this.ctx.call('/api/v1/me/access-log'));
      const [data, log] = await Promise.all(calls);
      this.data = log ? { ...data, access_log: log.entries || [] } : data;
      replace($('#data-view'), Object.entries(this.data).map(([key, value]) => el('section', {
        class: 'data-section', dataset: { key },
      }, el('h3', {}, tOr(`data.${key}`, key)), renderValue(value))));
      $('#data-download').disabled = false;
    } catch (err) {
      this.ctx.report(err, $('#data-view'));
    }
  }

  download() {
    if (!this.data) return;
    const blob = new Blob([JSON.stringify(this.data, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const link = el('a', { href: url, download: 'my-health-code-data.json' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
