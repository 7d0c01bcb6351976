// The health questionnaire (temperature, symptoms, stays elsewhere) and the
// daily report. The service validates; its messages appear next to the fields.
import { ApiError } from '../lib/api.js';
import { $, $$, clearErrors, el, setStatus, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { fromLocalInput } from '../lib/time.js';

export const SYMPTOMS = ['fever', 'cough', 'sore_throat', 'loss_of_smell', 'shortness_of_breath',
  'fatigue'];

function symptomBoxes(fieldset, prefix) {
  fieldset.append(el('div', { class: 'checks' }, SYMPTOMS.map((s) => el('label', { class: 'check' },
    el('input', { type: 'checkbox', name: 'symptoms', value: s, id: `${prefix}-${s}` }),
    el('span', { 'data-i18n': `symptom.${s}` }, t(`symptom.${s}`))))));
}

function temperature(form) {
  const raw = form.elements.temperature_c.value.trim();
  return raw === '' ? null : Number(raw);
}

function symptoms(form) {
  return $$('input[name="symptoms"]:checked', form).map((box) => box.value);
}

function travelRow(index) {
  const id = (name) => `travel-${index}-${name}`;
  const field = (name, label, input) => el('div', { class: 'field', dataset: { field: `travel.${index}.${name}` } },
    el('label', { for: id(name), 'data-i18n': label }, t(label)), input);
  const row = el('div', { class: 'travel-row', dataset: { field: `travel.${index}` } },
    field('area_code', 'field.areaCode',
      el('input', { id: id('area_code'), name: 'area_code', autocomplete: 'off', spellcheck: 'false' })),
    field('from', 'field.from', el('input', { id: id('from'), name: 'from', type: 'datetime-local' })),
    field('to', 'field.to', el('input', { id: id('to'), name: 'to', type: 'datetime-local' })),
    el('button', { type: 'button', class: 'btn-small remove', 'data-i18n': 'report.removeStay' },
      t('report.removeStay')));
  return row;
}

function renumber(container) {
  // Keep data-field paths in step with the list index the service will name.
  $$('.travel-row', container).forEach((row, index) => {
    row.dataset.field = `travel.${index}`;
    $$('.field', row).forEach((f) => {
      const name = f.dataset.field.split('.').pop();
      f.dataset.field = `travel.${index}.${name}`;
    });
  });
}

function travel(form) {
  return $$('.travel-row', form).map((row) => ({
    area_code: row.querySelector('[name="area_code"]').value.trim(),
    from: fromLocalInput(row.querySelector('[name="from"]').value),
    to: fromLocalInput(row.querySelector('[name="to"]').value),
  }));
}

async function submit(ctx, form, status, path, body) {
  clearErrors(form);
  setStatus(status, '');
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const answer = await ctx.call(path, { method: 'POST', body });
    form.reset();
    $$('.travel-row', form).forEach((row) => row.remove());
    setStatus(status, t('report.thanks', { color: t(`color.${answer.code.color}`) }), 'ok');
    ctx.codeView.setCode(answer.code);
  } catch (err) {
    if (err instanceof ApiError && Object.keys(err.fields).length) {
      showFieldErrors(form, err.fields);
      setStatus(status, t('form.fix'), 'error');
    } else {
      ctx.report(err, status);
    }
  } finally {
    button.disabled = false;
  }
}

export function setupReports(ctx) {
  const qForm = $('#questionnaire-form');
  const dForm = $('#daily-form');
  symptomBoxes(qForm.querySelector('.symptoms'), 'q');
  symptomBoxes(dForm.querySelector('.symptoms'), 'd');
  const rows = $('#travel-rows');
  $('#add-travel').addEventListener('click', () => {
    rows.append(travelRow(rows.children.length));
    rows.lastElementChild.querySelector('input').focus();
  });
  rows.addEventListener('click', (event) => {
    if (!event.target.matches('.remove')) return;
    event.target.closest('.travel-row').remove();
    renumber(rows);
  });
  qForm.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(ctx, qForm, $('#questionnaire-status'), '/api/v1/me/questionnaires',
      { temperature_c: temperature(qForm), symptoms: symptoms(qForm), travel: travel(qForm) });
  });
  dForm.addEventListener('submit', (event) => {
    event.preventDefault();
    submit(ctx, dForm, $('#daily-status'), '/api/v1/me/daily-reports',
      { temperature_c: temperature(dForm), symptoms: symptoms(dForm) });
  });
}

/** The daily report is for codes that are not green, where the service offers it. */
export function showDailyReport(ctx, code) {
  $('#daily-form').hidden = !(ctx.offers('POST /api/v1/me/daily-reports') && code.color !== 'green');
}
