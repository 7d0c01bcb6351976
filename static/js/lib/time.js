// Times: the API speaks ISO 8601 with an offset; people read local time.
import { getLang } from './i18n.js';

const pad = (n) => String(n).padStart(2, '0');

function locale() {
  return getLang() === 'zh' ? 'zh-CN' : 'en-GB';
}

/** "2026-11-26T08:00:00+08:00" for a Date, in the browser's time zone. */
export function isoWithOffset(date = new Date()) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
    + `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The value of an <input type="datetime-local"> as ISO with offset ('' stays ''). */
export function fromLocalInput(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : isoWithOffset(date);
}

export function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fmtDateTime(iso) {
  if (!iso) return '';
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString(locale(), {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  });
}

export function fmtDate(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleDateString(locale(), { year: 'numeric', month: '2-digit', day: '2-digit' });
}

export function fmtClock(date = new Date()) {
  return date.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtLongDate(date = new Date()) {
  return date.toLocaleDateString(locale(), {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
  });
}

/** "4:05" for 245 seconds. */
export function fmtCountdown(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}
