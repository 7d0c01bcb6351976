// Charts with Chart.js (vendored UMD build, global `Chart`; see
// static/vendor/VENDORED.md). One chart per canvas, replaced on each draw.
import { t } from '../lib/i18n.js';

export const PALETTE = { green: '#1f8a4c', yellow: '#e0a800', red: '#c62828' };
const charts = new Map();

function draw(canvas, config) {
  const old = charts.get(canvas);
  if (old) old.destroy();
  const chart = new window.Chart(canvas, config);
  charts.set(canvas, chart);
  return chart;
}

const BASE = {
  animation: false,
  responsive: true,
  maintainAspectRatio: false,
};

export const TRANSITIONS = ['green->yellow', 'green->red', 'yellow->red', 'yellow->green',
  'red->yellow', 'red->green'];

/** Bars of how many people would move from one color to another. */
export function transitionsChart(canvas, changes) {
  const keys = [...new Set([...TRANSITIONS, ...Object.keys(changes)])];
  return draw(canvas, {
    type: 'bar',
    data: {
      labels: keys.map((k) => k.split('->').map((c) => t(`color.${c}`)).join(' → ')),
      datasets: [{
        label: t('rules.people'),
        data: keys.map((k) => changes[k] || 0),
        backgroundColor: keys.map((k) => PALETTE[k.split('->')[1]] || '#888'),
        borderColor: keys.map((k) => PALETTE[k.split('->')[0]] || '#888'),
        borderWidth: 3,
      }],
    },
    options: {
      ...BASE,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

/** Stacked bars of the region's colors, one bar per day. */
export function distributionChart(canvas, days) {
  return draw(canvas, {
    type: 'bar',
    data: {
      labels: days.map((d) => d.date),
      datasets: ['green', 'yellow', 'red'].map((color) => ({
        label: t(`color.${color}`),
        data: days.map((d) => d[color] || 0),
        backgroundColor: PALETTE[color],
      })),
    },
    options: {
      ...BASE,
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
    },
  });
}
