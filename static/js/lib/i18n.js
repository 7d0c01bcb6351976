// English and Chinese. Text in the pages carries data-i18n="key" (and
// data-i18n-placeholder / data-i18n-label for attributes); scripts call t(key).
import { STRINGS } from './strings.js';

const KEY = 'hc.lang';
const listeners = [];

function initialLang() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let lang = initialLang();

export function getLang() {
  return lang;
}

/** The Accept-Language header sent with every API call. */
export function acceptLanguage() {
  return lang === 'zh' ? 'zh-CN,zh;q=0.9,en;q=0.5' : 'en';
}

export function t(key, vars = {}) {
  const entry = STRINGS[key];
  let text = entry ? (lang === 'zh' && entry[1]) || entry[0] : key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

/** Like t(), but falls back to `fallback` when the key is unknown. */
export function tOr(key, fallback) {
  return STRINGS[key] ? t(key) : fallback;
}

export function applyI18n(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((node) => {
    node.textContent = t(node.dataset.i18n);
  });
  root.querySelectorAll('[data-i18n-placeholder]').forEach((node) => {
    node.setAttribute('placeholder', t(node.dataset.i18nPlaceholder));
  });
  root.querySelectorAll('[data-i18n-label]').forEach((node) => {
    node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  });
  if (root === document) {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    const titleKey = document.body.dataset.title;
    if (titleKey) document.title = t(titleKey);
  }
}

export function setLang(next) {
  lang = next === 'zh' ? 'zh' : 'en';
  localStorage.setItem(KEY, lang);
  applyI18n();
  listeners.forEach((fn) => fn(lang));
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** Wire a button that flips between the two languages. */
export function langToggle(button) {
  const label = () => {
    button.textContent = lang === 'zh' ? 'English' : '中文';
    button.setAttribute('lang', lang === 'zh' ? 'en' : 'zh-CN');
  };
  label();
  button.addEventListener('click', () => {
    setLang(lang === 'zh' ? 'en' : 'zh');
    label();
  });
}
