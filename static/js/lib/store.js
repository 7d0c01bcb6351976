// Browser storage, JSON-encoded and namespaced. Secrets live here, never in URLs:
// the citizen's phone and a gate keep theirs (localStorage); an official's console
// forgets its secret when the tab closes (sessionStorage).

const PREFIX = 'hc.';

export function load(key, fallback = null, area = localStorage) {
  try {
    const raw = area.getItem(PREFIX + key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

export function save(key, value, area = localStorage) {
  if (value === null || value === undefined) area.removeItem(PREFIX + key);
  else area.setItem(PREFIX + key, JSON.stringify(value));
}

export function forget(...keys) {
  keys.forEach((key) => {
    localStorage.removeItem(PREFIX + key);
    sessionStorage.removeItem(PREFIX + key);
  });
}
