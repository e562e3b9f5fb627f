// The admin console's DASHBOARD (/admin/dashboard, ?range=hour|day) and its sign-out. The numbers
// come from the shared database (dashboard-series.ts), the charts are SVG made here on the server
// (dashboard-chart.ts), and each chart has its legend with totals and a table of every number for
// those who do not see it. Signing out ends the console's cookie and the Sesame session it came
// from (with that session's grants), audited with the admin's id.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import type { Translate } from '../i18n/i18n.js';
import { recordAudit } from '../storage/audit.js';
import { endSession } from '../storage/oidc-sessions.js';
import { adminCsrf, adminForPage, consoleSessionForPost, forgetConsoleSession } from './admin-session.js';
import { pageLocale } from './account-page.js';
import { chartSvg, lineDash, type Chart } from './dashboard-chart.js';
import { loadDashboard, type Range, type Series } from './dashboard-series.js';

const METHOD_COLOURS = ['email_code', 'sms_code', 'link', 'passkey', 'external', 'other'];

function seriesLabel(t: Translate, key: string): string {
  const label = t(`admin.dashboard.series.${key}`);
  return label === `admin.dashboard.series.${key}` ? key : label;
}

function bucketLabel(start: Date, width: number, b: number): string {
  return new Date(start.getTime() + b * width * 1000).toISOString().slice(11, 16);
}

/** One chart's view: its SVG, legend (with totals) and table. */
function chartView(t: Translate, id: string, kind: Chart['kind'], series: Series[], colourOf: (s: Series, i: number) => number, labels: string[], range: Range) {
  const coloured = series.map((s, i) => ({ ...s, colour: colourOf(s, i) % 6, label: seriesLabel(t, s.key), total: s.values.reduce((a, v) => a + v, 0) }));
  const chart: Chart = {
    id,
    kind,
    series: coloured.map((s) => ({ colour: s.colour, hatched: kind === 'stacked' && s.bad, values: s.values })),
    bucketLabels: labels,
    // Round times: the quarter hours, or every sixth hour.
    ticks: labels.flatMap((label, b) => (Number(label.slice(range === 'hour' ? 3 : 0, range === 'hour' ? 5 : 2)) % (range === 'hour' ? 15 : 6) === 0 ? [b] : [])),
    xTitle: t(range === 'hour' ? 'admin.dashboard.x_hour' : 'admin.dashboard.x_day'),
    yTitle: t('admin.dashboard.y'),
  };
  return {
    id,
    caption: t(`admin.dashboard.chart.${id}`),
    svg: chartSvg(chart, `${id}-caption`, `${id}-legend`),
    legend: coloured.map((s, i) => ({ label: s.label, total: s.total, colour: s.colour, hatched: chart.series[i]!.hatched, dash: kind === 'lines' ? lineDash(i) : null })),
    rows: labels.map((time, b) => ({ time, values: coloured.map((s) => s.values[b] ?? 0) })),
  };
}

function age(locale: string, since: Date | null, now: Date): string | null {
  if (!since) return null;
  const seconds = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  const [value, unit] = seconds < 120 ? [seconds, 'second'] : seconds < 7200 ? [Math.floor(seconds / 60), 'minute'] : [Math.floor(seconds / 3600), 'hour'];
  return new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(value);
}

/** GET /admin/dashboard?range=hour|day */
export async function showDashboard(s: Services, ctx: Context): Promise<void> {
  const range: Range = ctx.query.range === 'day' ? 'day' : 'hour';
  const admin = await adminForPage(s, ctx, range === 'day' ? '/admin/dashboard?range=day' : '/admin/dashboard');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  // The renderer's translator: the operator's own strings (ui.overridesDir) count here too.
  const t: Translate = (key, vars) => s.renderer.translate(locale, key, vars);
  const now = new Date();
  const data = await loadDashboard(s.db, range, now);
  const labels = Array.from({ length: data.window.buckets }, (_v, b) => bucketLabel(data.window.start, data.window.width, b));
  const byMethod = (series: Series) => Math.max(0, METHOD_COLOURS.indexOf(series.key.split('.')[0]!));
  const { totals } = data;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-dashboard', locale, {
    title: 'admin.dashboard.title',
    section: 'dashboard',
    csrf: adminCsrf(s, admin),
    range,
    charts: [
      chartView(t, 'sign_ins', 'stacked', data.signIns, byMethod, labels, range),
      chartView(t, 'failed_codes', 'stacked', data.failedCodes, (_s, i) => i, labels, range),
      chartView(t, 'sends', 'lines', data.sends, (_s, i) => i, labels, range),
      chartView(t, 'decisions', 'stacked', data.decisions, (_s, i) => i + 2, labels, range),
    ],
    totals: {
      signIns: new Intl.NumberFormat(locale).format(totals.signIns),
      failureRatio: new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(totals.signIns ? totals.failures / totals.signIns : 0),
      pending: new Intl.NumberFormat(locale).format(totals.pending),
      oldestPending: age(locale, totals.oldestPendingAt, now),
      held: new Intl.NumberFormat(locale).format(totals.held),
    },
  });
}

/** POST /admin/sign-out: this console cookie and the Sesame session behind it end; audited with the admin's id. */
export async function signOut(s: Services, ctx: Context): Promise<void> {
  const session = await consoleSessionForPost(s, ctx);
  await endSession(s.db, session.userId, session.sessionUid);
  forgetConsoleSession(ctx);
  await recordAudit(s.db, { type: 'admin.signed_out', userId: session.userId, ip: ctx.ip, reason: `via console by admin:${session.userId}` });
  ctx.status = 303;
  ctx.redirect('/admin/signed-out');
}

/** GET /admin/signed-out: the page after signing out (no session needed). */
export async function showSignedOut(s: Services, ctx: Context): Promise<void> {
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-signed-out', pageLocale(s, ctx), { title: 'logout.done_title' });
}
