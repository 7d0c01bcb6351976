// Editing a ruleset: one card per rule with a field per property, or the whole
// list as JSON. Problems from the service (422 `fields` keyed by rule index and
// field) are shown next to the field of the rule they name.
import { $, $$, clearErrors, el, flattenFields, replace, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

const COLORS = ['yellow', 'red'];
const CLEARING = ['clean_questionnaire', 'negative_test'];

export const NEW_RULE = () => ({
  id: '',
  summary: '',
  when: { '==': [{ var: 'kind' }, 'questionnaire'] },
  color: 'yellow',
  quarantine_days: 7,
  clears_after: null,
});

function field(index, name, label, input, wide = false) {
  return el('div', { class: `field${wide ? ' wide' : ''}`, dataset: { field: `rules.${index}.${name}` } },
    el('label', { for: input.id }, t(label)), input);
}

export class RuleEditor {
  constructor(onChange) {
    this.onChange = onChange;
    this.rules = [];
    this.mode = 'fields';
    this.cards = $('#rule-cards');
    this.json = $('#rules-json');
    this.cards.addEventListener('input', (event) => this.edited(event));
    this.cards.addEventListener('change', (event) => this.edited(event));
    this.cards.addEventListener('click', (event) => {
      const remove = event.target.closest('.remove-rule');
      if (!remove) return;
      this.rules.splice(Number(remove.closest('.rule-card').dataset.index), 1);
      this.render();
      this.onChange();
    });
    this.json.addEventListener('input', () => this.onChange());
  }

  load(rules) {
    this.rules = structuredClone(rules);
    this.render();
  }

  add() {
    if (this.mode === 'json' && !this.syncFromJson()) return;
    this.rules.push(NEW_RULE());
    this.render();
    this.onChange();
    const cards = $$('.rule-card', this.cards);
    if (this.mode === 'fields' && cards.length) {
      const card = cards[cards.length - 1];
      card.open = true;
      card.querySelector('input').focus();
    }
  }

  setMode(mode) {
    if (mode === this.mode) return true;
    if (mode === 'fields' && !this.syncFromJson()) return false;
    if (mode === 'fields' && !this.rules.every((r) => r && typeof r === 'object' && !Array.isArray(r))) {
      showFieldErrors($('#rules-form'), { json: [t('rules.notObjects')] });
      return false;
    }
    this.mode = mode;
    this.render();
    return true;
  }

  render() {
    const jsonMode = this.mode === 'json';
    this.cards.hidden = jsonMode;
    $('.json-editor').hidden = !jsonMode;
    if (jsonMode) this.json.value = JSON.stringify(this.rules, null, 2);
    else replace(this.cards, this.rules.map((rule, i) => this.card(rule, i)));
  }

  /** One rule: a summary line (open it to edit) with a field per property. */
  card(rule, i) {
    const id = (name) => `rule-${i}-${name}`;
    const select = (name, options, value) => el('select', { id: id(name), name },
      options.map(([v, label]) => el('option', { value: v, selected: (value ?? '') === v }, label)));
    const when = el('textarea', { id: id('when'), name: 'when', rows: 3, spellcheck: 'false', class: 'code' });
    when.value = JSON.stringify(rule.when ?? null);
    const card = el('details', { class: 'rule-card', dataset: { index: i, field: `rules.${i}`, color: rule.color || '' } },
      el('summary', {},
        el('span', { class: 'rule-no' }, `#${i + 1}`),
        el('span', { class: 'chip rule-color', dataset: { color: rule.color || '' } }),
        el('strong', { class: 'rule-title' }),
        el('span', { class: 'rule-brief' })),
      el('div', { class: 'rule-grid' },
        field(i, 'id', 'rules.f.id', el('input', { id: id('id'), name: 'id', value: rule.id ?? '', spellcheck: 'false' })),
        field(i, 'color', 'rules.f.color', select('color', COLORS.map((c) => [c, t(`color.${c}`)]), rule.color)),
        field(i, 'quarantine_days', 'rules.f.days', el('input', {
          id: id('quarantine_days'), name: 'quarantine_days', type: 'number', min: 1, max: 28,
          value: rule.quarantine_days ?? '',
        })),
        field(i, 'clears_after', 'rules.f.clears', select('clears_after',
          [['', t('rules.clears.none')], ...CLEARING.map((c) => [c, t(`pending.${c}`)])], rule.clears_after)),
        field(i, 'summary', 'rules.f.summary', el('input', { id: id('summary'), name: 'summary', value: rule.summary ?? '' }), true),
        field(i, 'summaries', 'rules.f.summaryZh', el('input', {
          id: id('summaries'), name: 'summaries', lang: 'zh-CN', value: (rule.summaries && rule.summaries.zh) || '',
        }), true),
        field(i, 'when', 'rules.f.when', when, true),
        field(i, 'clean_days', 'rules.f.cleanDays', el('input', {
          id: id('clean_days'), name: 'clean_days', type: 'number', min: 1, value: rule.clean_days ?? '',
        }))),
      el('button', { type: 'button', class: 'btn-small remove-rule' }, t('rules.remove')));
    this.describe(card, rule);
    return card;
  }

  /** The card's summary line: color, id, days and what the holder is told. */
  describe(card, rule) {
    const chip = card.querySelector('.rule-color');
    chip.dataset.color = rule.color || '';
    chip.textContent = COLORS.includes(rule.color) ? t(`color.${rule.color}`) : String(rule.color ?? '?');
    card.dataset.color = rule.color || '';
    card.querySelector('.rule-title').textContent = rule.id || t('rules.untitled');
    card.querySelector('.rule-brief').textContent = [
      rule.quarantine_days !== undefined ? t('rules.days', { n: rule.quarantine_days }) : null,
      rule.summary,
    ].filter(Boolean).join(' · ');
  }

  /** Apply one input's value to its rule. */
  edited(event) {
    const input = event.target;
    const card = input.closest('.rule-card');
    if (!card || !input.name) return;
    const rule = this.rules[Number(card.dataset.index)];
    const value = input.value;
    const slot = input.closest('.field');
    slot.querySelectorAll('.field-error[data-local]').forEach((n) => n.remove());
    switch (input.name) {
      case 'when':
        try {
          rule.when = JSON.parse(value);
          delete card.dataset.badJson;
        } catch (err) {
          card.dataset.badJson = 'true';
          slot.append(el('p', { class: 'field-error', role: 'alert', dataset: { local: 'true' } },
            t('rules.badJson', { why: err.message })));
        }
        break;
      case 'quarantine_days':
      case 'clean_days':
        if (value === '') delete rule[input.name];
        else rule[input.name] = Number(value);
        break;
      case 'clears_after':
        rule.clears_after = value || null;
        break;
      case 'summaries': {
        const summaries = { ...(rule.summaries || {}) };
        if (value.trim()) summaries.zh = value;
        else delete summaries.zh;
        if (Object.keys(summaries).length) rule.summaries = summaries;
        else delete rule.summaries;
        break;
      }
      default:
        rule[input.name] = value;
    }
    this.describe(card, rule);
    this.onChange();
  }

  /** Read the JSON textarea into the rules; false (with the error shown) if it is not a list. */
  syncFromJson() {
    if (this.mode !== 'json') return true;
    const slot = $('.json-editor');
    clearErrors(slot);
    try {
      const rules = JSON.parse(this.json.value);
      if (!Array.isArray(rules)) throw new Error(t('rules.notAList'));
      this.rules = rules;
      return true;
    } catch (err) {
      showFieldErrors(slot.parentElement, { json: [t('rules.badJson', { why: err.message })] });
      return false;
    }
  }

  /** The rules to send, or null when something cannot be sent (shown where it is). */
  value() {
    if (!this.syncFromJson()) return null;
    if (this.mode === 'fields' && $$('.rule-card[data-bad-json]', this.cards).length) return null;
    return structuredClone(this.rules);
  }

  clearProblems() {
    $$('.field-error:not([data-local])', this.cards.parentElement).forEach((n) => n.remove());
    $$('[aria-invalid]', this.cards.parentElement).forEach((n) => n.removeAttribute('aria-invalid'));
  }

  /** Put the service's problems next to their fields; returns lines for the summary. */
  showProblems(err) {
    this.clearProblems();
    const problems = Array.isArray(err.body.error && err.body.error.problems)
      ? err.body.error.problems : null;
    if (this.mode === 'fields') {
      showFieldErrors($('#rules-form'), err.fields);
      $$('.rule-card', this.cards).forEach((card) => {
        if (card.querySelector('.field-error')) card.open = true;
      });
    }
    if (problems) {
      return problems.map((p) => (p.index === null || p.index === undefined
        ? `${p.field}: ${p.message}`
        : t('rules.problemLine', { n: p.index + 1, id: p.rule_id || '?', field: p.field, message: p.message })));
    }
    return flattenFields(err.fields).map(([path, messages]) => `${path}: ${messages.join(' ')}`);
  }
}
