// The region's color distribution over the last days (no one is named).
import { $, el, replace } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { distributionChart } from './charts.js';

export class DashboardPanel {
  constructor(ctx) {
    this.ctx = ctx;
    $('#dashboard-days').addEventListener('change', () => this.load());
  }

  async load() {
    const offered = this.ctx.offers('GET /api/v1/stats/colors');
    $('#dashboard-unavailable').hidden = offered;
    $('.dashboard-controls').hidden = !offered;
    $('#dashboard-chart').parentElement.hidden = !offered;
    if (!offered) return;
    try {
      const days = Number($('#dashboard-days').value);
      const answer = await this.ctx.call(`/api/v1/stats/colors?days=${days}`);
      const series = answer.days || [];
      const today = series[series.length - 1] || { green: 0, yellow: 0, red: 0 };
      replace($('#dashboard-today'), ['green', 'yellow', 'red'].map((c) => el('div', {
        class: 'today-count', dataset: { color: c },
      }, el('span', { class: 'n' }, String(today[c] || 0)), ' ', el('span', {}, t(`color.${c}`)))));
      distributionChart($('#dashboard-chart'), series);
    } catch (err) {
      this.ctx.report(err, $('#dashboard-today'));
    }
  }
}
