// Notices to the holder and their own restrictions, with the legal basis and
// what lifts each one.
import { $, el, replace } from '../lib/dom.js';
import { t, tOr } from '../lib/i18n.js';
import { fmtDate, fmtDateTime } from '../lib/time.js';

function restrictionItem(ctx, r) {
  const basis = r.legal_basis || {};
  const state = r.lifted_at ? 'lifted' : (r.active ? 'active' : 'inactive');
  return el('article', { class: 'restriction', dataset: { state } },
    el('h3', {}, t('restrictions.heading', {
      categories: (r.categories || []).map((c) => tOr(`category.${c}`, c)).join(', '),
    }), ' ', el('span', { class: `badge badge-${state}` }, t(`restrictions.${state}`))),
    el('dl', {},
      el('dt', {}, t('restrictions.basis')),
      el('dd', {}, `${tOr(`basis.${basis.kind}`, basis.kind || '')} ${basis.ref || ''}`),
      el('dt', {}, t('restrictions.authority')),
      el('dd', {}, `${basis.authority || ''} (${tOr(`level.${basis.authority_level}`, basis.authority_level || '')})`),
      el('dt', {}, t('restrictions.notified')), el('dd', {}, fmtDate(r.notified_at)),
      el('dt', {}, t('restrictions.from')), el('dd', {}, fmtDate(r.effective_from)),
      el('dt', {}, t('restrictions.until')),
      el('dd', {}, r.expires_at ? fmtDate(r.expires_at) : t('restrictions.noEnd')),
      el('dt', {}, t('restrictions.lift')), el('dd', {}, r.how_to_lift || r.remedy || '—'),
      r.lifted_at ? [el('dt', {}, t('restrictions.liftedAt')),
        el('dd', {}, `${fmtDate(r.lifted_at)} ${r.lift_reason || ''}`)] : null),
    ctx.canAppeal() ? el('button', {
      type: 'button',
      class: 'btn-small',
      onclick: () => ctx.startAppeal('restriction', String(r.restriction_id)),
    }, t('appeals.this')) : null);
}

export async function loadNotices(ctx) {
  try {
    const [notices, restrictions] = await Promise.all([
      ctx.call('/api/v1/me/notices'),
      ctx.call('/api/v1/me/restrictions'),
    ]);
    const list = notices.notices || [];
    replace($('#notices'), list.length
      ? list.map((n) => el('article', { class: 'notice-item' },
        el('h3', {}, n.title), el('p', {}, n.text), el('time', {}, fmtDateTime(n.at))))
      : el('p', { class: 'hint' }, t('notices.none')));
    const rs = restrictions.restrictions || [];
    replace($('#restrictions'), rs.length
      ? rs.map((r) => restrictionItem(ctx, r))
      : el('p', { class: 'hint' }, t('restrictions.none')));
    const active = rs.filter((r) => r.active).length;
    const badge = $('#notice-count');
    badge.textContent = String(active);
    badge.hidden = active === 0;
  } catch (err) {
    ctx.report(err, $('#notices'));
  }
}
