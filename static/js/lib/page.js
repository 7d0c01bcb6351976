// What every page does first: CSP reporting, the language toggle, tabs.
import './csp.js';
import { applyI18n, langToggle } from './i18n.js';

export function initPage() {
  applyI18n();
  const toggle = document.getElementById('lang-toggle');
  if (toggle) langToggle(toggle);
}

/**
 * Tabs: buttons with role="tab" and aria-controls="<panel id>" inside `nav`.
 * onShow(name) runs when a tab is shown; returns select(name).
 */
export function tabs(nav, onShow = () => {}) {
  const buttons = [...nav.querySelectorAll('[role="tab"]')];
  function select(name) {
    for (const button of buttons) {
      const on = button.dataset.tab === name;
      button.setAttribute('aria-selected', String(on));
      button.tabIndex = on ? 0 : -1;
      document.getElementById(button.getAttribute('aria-controls')).hidden = !on;
    }
    onShow(name);
  }
  buttons.forEach((button) => button.addEventListener('click', () => select(button.dataset.tab)));
  nav.addEventListener('keydown', (event) => {
    const visible = buttons.filter((b) => !b.hidden);
    const i = visible.indexOf(document.activeElement);
    if (i < 0 || !['ArrowLeft', 'ArrowRight'].includes(event.key)) return;
    const next = visible[(i + (event.key === 'ArrowRight' ? 1 : visible.length - 1)) % visible.length];
    next.focus();
    select(next.dataset.tab);
  });
  return select;
}

/** Copy text to the clipboard, quietly doing nothing where that is not allowed. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
