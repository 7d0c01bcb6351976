// Small DOM helpers: element building without innerHTML, and API field errors
// shown next to the field they name.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** el('p', {class: 'x', onclick: fn}, 'text', child, [more]) -> element. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function replace(node, ...children) {
  clear(node);
  append(node, children);
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** [["travel.0.to", ["must not be before 'from'"]], ...] from the API's nested `fields`. */
export function flattenFields(fields, prefix = '') {
  if (fields === null || fields === undefined) return [];
  if (Array.isArray(fields) && fields.every((m) => typeof m === 'string')) {
    return [[prefix || '_form', fields]];
  }
  if (typeof fields === 'object') {
    return Object.entries(fields).flatMap(([key, value]) =>
      flattenFields(value, prefix ? `${prefix}.${key}` : key));
  }
  return [[prefix || '_form', [String(fields)]]];
}

export function clearErrors(root) {
  $$('.field-error', root).forEach((n) => n.remove());
  $$('[aria-invalid]', root).forEach((n) => n.removeAttribute('aria-invalid'));
}

/**
 * Put each message next to the element with data-field="<path>" inside `root`,
 * trying shorter paths (travel.0.to -> travel.0 -> travel) and finally the
 * element with data-field="_form". Returns the number of messages shown.
 */
export function showFieldErrors(root, fields) {
  let shown = 0;
  for (const [path, messages] of flattenFields(fields)) {
    let slot = null;
    let candidate = path;
    for (;;) {
      slot = root.querySelector(`[data-field="${CSS.escape(candidate)}"]`);
      if (slot || !candidate.includes('.')) break;
      candidate = candidate.slice(0, candidate.lastIndexOf('.'));
    }
    slot = slot || root.querySelector('[data-field="_form"]') || root;
    const input = slot.classList.contains('field')
      ? slot.querySelector('input:not([type="radio"]):not([type="checkbox"]), select, textarea')
      : null;
    if (input) input.setAttribute('aria-invalid', 'true');
    const where = path === candidate || slot.dataset.field === '_form' ? '' : `${path}: `;
    slot.append(el('p', { class: 'field-error', role: 'alert', dataset: { errorFor: path } },
      where + messages.join(' ')));
    shown += 1;
  }
  return shown;
}

/** A short status line under a form: kind is "ok", "error" or "info". */
export function setStatus(node, text, kind = 'info') {
  node.textContent = text || '';
  node.dataset.kind = kind;
  node.hidden = !text;
}
