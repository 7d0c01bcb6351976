// The full-screen answer (admit / refuse, the code's color, the masked name and
// the reason in words), the running count and the list of recent scans.
import { $, el } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';
import { fmtClock } from '../lib/time.js';
import * as store from '../lib/store.js';

const SHOW_MS = 3500;
const RECENT = 10;

export function reasonWords(reason) {
  return tOr(`reason.${reason}`, reason);
}

export class ResultView {
  constructor(onDone) {
    this.onDone = onDone;
    this.node = $('#result');
    this.timer = null;
    this.counts = store.load('scanner.counts', { admit: 0, refuse: 0 });
    this.node.addEventListener('click', () => this.hide());
    document.addEventListener('keydown', (event) => {
      if (!this.node.hidden && (event.key === 'Escape' || event.key === 'Enter')) this.hide();
    });
    $('#count-reset').addEventListener('click', () => {
      this.counts = { admit: 0, refuse: 0 };
      this.saveCounts();
    });
    this.saveCounts();
  }

  saveCounts() {
    store.save('scanner.counts', this.counts);
    $('#count-admit').textContent = String(this.counts.admit);
    $('#count-refuse').textContent = String(this.counts.refuse);
  }

  show(r) {
    const admit = r.decision === 'admit';
    this.counts[admit ? 'admit' : 'refuse'] += 1;
    this.saveCounts();
    this.node.dataset.decision = admit ? 'admit' : 'refuse';
    this.node.dataset.color = r.color || 'none';
    this.node.dataset.reason = r.reason;
    this.node.dataset.offline = String(!!r.offline);
    $('#result-word').textContent = t(admit ? 'scanner.admit' : 'scanner.refuse');
    const chip = $('#result-color');
    chip.textContent = r.color ? t(`color.${r.color}`) : '';
    chip.dataset.color = r.color || 'none';
    chip.hidden = !r.color;
    $('#result-name').textContent = r.holder || '';
    $('#result-reason').textContent = reasonWords(r.reason);
    $('#result-meta').textContent = `${fmtClock()} · ${t(r.offline ? 'scanner.decidedOffline' : 'scanner.decidedOnline')}`;
    this.node.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), SHOW_MS);
    this.addRecent(r);
  }

  hide() {
    if (this.node.hidden) return;
    clearTimeout(this.timer);
    this.node.hidden = true;
    this.onDone();
  }

  addRecent(r) {
    const list = $('#recent');
    list.prepend(el('li', { dataset: { decision: r.decision } },
      el('time', {}, fmtClock()), ' ',
      el('strong', {}, t(r.decision === 'admit' ? 'scanner.admit' : 'scanner.refuse')), ' ',
      r.color ? el('span', { class: 'chip', dataset: { color: r.color } }, t(`color.${r.color}`)) : null, ' ',
      r.holder || '', ' · ', reasonWords(r.reason),
      r.offline ? el('span', { class: 'badge' }, t('scanner.offlineBadge')) : null));
    while (list.children.length > RECENT) list.lastElementChild.remove();
  }
}
