// The rules panel: the active version, the draft editor, simulate (with its
// chart), publish, the list of versions and drafts, and roll back.
import { ApiError } from '../lib/api.js';
import { $, clearErrors, el, replace, setStatus, showFieldErrors } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { fmtDateTime } from '../lib/time.js';
import { transitionsChart } from './charts.js';
import { RuleEditor } from './rule-editor.js';

export class RulesPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.active = null;
    this.draftId = null;
    this.dirty = false;
    this.rollbackTo = null;
    this.editor = new RuleEditor(() => this.changed());
    $('#mode-fields').addEventListener('click', () => this.mode('fields'));
    $('#mode-json').addEventListener('click', () => this.mode('json'));
    $('#add-rule').addEventListener('click', () => this.editor.add());
    $('#rules-note').addEventListener('input', () => this.changed());
    $('#save-draft').addEventListener('click', () => this.run(() => this.save()));
    $('#simulate').addEventListener('click', () => this.run(() => this.simulate()));
    $('#publish').addEventListener('click', () => this.run(() => this.askPublish()));
    $('#publish-yes').addEventListener('click', () => this.run(() => this.publish()));
    $('#publish-no').addEventListener('click', () => { $('#publish-confirm').hidden = true; });
    $('#rollback-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.run(() => this.rollback());
    });
    $('#rollback-cancel').addEventListener('click', () => { $('#rollback-form').hidden = true; });
  }

  async load() {
    try {
      const [active, list] = await Promise.all([
        this.ctx.call('/api/v1/rulesets/active'),
        this.ctx.call('/api/v1/rulesets'),
      ]);
      this.active = active;
      $('#rules-active').textContent = t('rules.active', {
        region: active.region, version: active.version,
        at: fmtDateTime(active.published_at || active.created_at),
      });
      if (!this.dirty && this.draftId === null) {
        this.editor.load(active.rules);
        this.setState(t('rules.state.active', { version: active.version }));
      }
      this.versions(list.rulesets || []);
    } catch (err) {
      this.ctx.report(err, $('#rules-status'));
    }
  }

  mode(name) {
    if (!this.editor.setMode(name)) return;
    $('#mode-fields').setAttribute('aria-pressed', String(name === 'fields'));
    $('#mode-json').setAttribute('aria-pressed', String(name === 'json'));
    $('#add-rule').hidden = false;
  }

  changed() {
    this.dirty = true;
    this.draftId = null;
    $('#publish-confirm').hidden = true;
    this.setState(t('rules.state.unsaved'));
  }

  setState(text) {
    $('#draft-state').textContent = text;
  }

  /** Run an action with the buttons disabled and its errors shown. */
  async run(action) {
    const buttons = ['#save-draft', '#simulate', '#publish', '#publish-yes'].map((s) => $(s));
    buttons.forEach((b) => { b.disabled = true; });
    setStatus($('#rules-status'), '');
    try {
      await action();
    } catch (err) {
      this.ctx.report(err, $('#rules-status'));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  /** Store the editor's rules as a draft (once per change); its id, or null. */
  async save() {
    if (!this.dirty && this.draftId !== null) return this.draftId;
    const rules = this.editor.value();
    const problems = $('#rules-problems');
    if (rules === null) {
      setStatus($('#rules-status'), t('rules.fixJson'), 'error');
      return null;
    }
    this.editor.clearProblems();
    problems.hidden = true;
    try {
      const draft = await this.ctx.call('/api/v1/rulesets', {
        method: 'POST', body: { rules, note: $('#rules-note').value.trim() },
      });
      this.draftId = draft.id;
      this.dirty = false;
      this.setState(t('rules.state.draft', { id: draft.id }));
      this.load();
      return draft.id;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 422) throw err;
      const lines = this.editor.showProblems(err);
      replace(problems, el('p', {}, t('rules.problems')), el('ul', {}, lines.map((l) => el('li', {}, l))));
      problems.hidden = false;
      this.setState(t('rules.state.invalid'));
      return null;
    }
  }

  async simulate() {
    const id = await this.save();
    if (id === null) return;
    const result = await this.ctx.call(`/api/v1/rulesets/${id}/simulate`, { method: 'POST' });
    const changed = Object.values(result.changes || {}).reduce((a, b) => a + b, 0);
    $('#simulation').hidden = false;
    $('#simulation-summary').textContent = t('rules.simulated', {
      id, subjects: result.subjects, changed, unchanged: result.unchanged ?? result.subjects - changed,
      version: result.active_version ?? '?', seconds: result.seconds ?? '?',
    });
    transitionsChart($('#simulation-chart'), result.changes || {});
    const samples = result.samples || [];
    replace($('#simulation-samples'), samples.length ? el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, t('rules.transition')), el('th', {}, t('rules.people')),
        el('th', {}, t('rules.newReasons')))),
      el('tbody', {}, samples.map((s) => el('tr', {},
        el('td', {}, s.transition), el('td', {}, String(s.count)),
        el('td', {}, (s.reasons || []).map((r) => r.summary || r.rule_id).join('; ')))))) : null);
  }

  async askPublish() {
    const id = await this.save();
    if (id === null) return;
    $('#publish-question').textContent = t('rules.publishQuestion', {
      id, version: (this.active ? this.active.version : 0) + 1, region: this.ctx.region,
    });
    $('#publish-confirm').hidden = false;
    $('#publish-yes').focus();
  }

  async publish() {
    const id = this.draftId;
    if (id === null) return;
    const answer = await this.ctx.call(`/api/v1/rulesets/${id}/publish`, { method: 'POST' });
    $('#publish-confirm').hidden = true;
    this.draftId = null;
    this.dirty = false;
    setStatus($('#rules-status'), t('rules.published', answer), 'ok');
    this.setState(t('rules.state.active', { version: answer.version }));
    await this.load();
  }

  versions(rows) {
    const activeVersion = this.active ? this.active.version : null;
    replace($('#versions'), el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['rules.v.version', 'rules.v.status', 'rules.v.rules', 'rules.v.note',
        'rules.v.created', 'rules.v.published', 'rules.v.actions'].map((k) => el('th', {}, t(k))))),
      el('tbody', {}, rows.map((r) => el('tr', { dataset: { id: r.id, status: r.status } },
        el('td', {}, r.version ? `v${r.version}` : t('rules.v.draft', { id: r.id }),
          r.version === activeVersion ? el('span', { class: 'badge badge-active' }, t('rules.v.active')) : null),
        el('td', {}, t(`rules.status.${r.status}`)),
        el('td', {}, String((r.rules || []).length)),
        el('td', {}, r.note || ''),
        el('td', {}, fmtDateTime(r.created_at)),
        el('td', {}, fmtDateTime(r.published_at)),
        el('td', { class: 'row-actions' },
          el('button', { type: 'button', class: 'btn-small', onclick: () => this.edit(r) }, t('rules.v.edit')),
          r.version && r.version !== activeVersion
            ? el('button', { type: 'button', class: 'btn-small', onclick: () => this.askRollback(r.version) },
              t('rules.v.rollback')) : null)))))));
  }

  edit(row) {
    this.editor.load(row.rules || []);
    if (row.status === 'draft') {
      this.draftId = row.id;
      this.dirty = false;
      this.setState(t('rules.state.draft', { id: row.id }));
    } else {
      this.changed();
    }
    $('#rules-form').scrollIntoView({ block: 'start' });
  }

  askRollback(version) {
    this.rollbackTo = version;
    const form = $('#rollback-form');
    clearErrors(form);
    $('#rollback-question').textContent = t('rules.rollbackQuestion', { version });
    form.hidden = false;
    form.elements.reason.focus();
  }

  async rollback() {
    const form = $('#rollback-form');
    clearErrors(form);
    try {
      const answer = await this.ctx.call('/api/v1/rulesets/rollback', {
        method: 'POST', body: { to_version: this.rollbackTo, reason: form.elements.reason.value.trim() },
      });
      form.hidden = true;
      form.reset();
      setStatus($('#rules-status'), t('rules.rolledBack', { ...answer, to: this.rollbackTo }), 'ok');
      this.draftId = null;
      this.dirty = false;
      await this.load();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) showFieldErrors(form, err.fields);
      else throw err;
    }
  }
}
