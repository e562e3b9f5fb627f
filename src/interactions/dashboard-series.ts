// What the console dashboard charts, from the shared database (storage/dashboard.ts): per bucket of
// the last hour (60 minutes) or day (24 hours), sign-ins by method and outcome, failed codes by
// channel, codes sent against deliveries sent and failed, and decisions by outcome. What an audit
// event counts as comes from metrics/events.ts's auditMeaning, the table the Prometheus counters use.
import type { Db } from '../storage/db.js';
import { auditCounts, decisionCounts, deliveryCounts, heldReviewCount, type KeyedCount, type TimeWindow } from '../storage/dashboard.js';
import { outboxBacklog } from '../storage/outbox.js';
import { auditMeaning } from '../metrics/events.js';

export type Range = 'hour' | 'day';
export const RANGES: Record<Range, { width: number; buckets: number }> = { hour: { width: 60, buckets: 60 }, day: { width: 3600, buckets: 24 } };

/** One line of a chart: a stable key (also its message key's tail) and a count per bucket. */
export interface Series {
  key: string;
  /** A failure or refusal: drawn hatched, so colour is not the only cue. */
  bad: boolean;
  values: number[];
}

export interface Dashboard {
  window: TimeWindow;
  signIns: Series[];
  failedCodes: Series[];
  sends: Series[];
  decisions: Series[];
  totals: { signIns: number; failures: number; pending: number; oldestPendingAt: Date | null; held: number };
}

/** The window of `range` ending with the bucket that holds `now`. */
export function windowOf(range: Range, now: Date): TimeWindow {
  const { width, buckets } = RANGES[range];
  const current = Math.floor(now.getTime() / 1000 / width) * width;
  return { start: new Date((current - (buckets - 1) * width) * 1000), width, buckets };
}

const METHODS = ['email_code', 'sms_code', 'link', 'passkey', 'external', 'other'];
const DECISION_OUTCOMES = ['ALLOW', 'CHALLENGE', 'REVIEW', 'BLOCK'];

/** Series in `order` (keys never seen are left out unless `always`), each bucket summed. */
class Tally {
  private readonly sums = new Map<string, number[]>();
  constructor(private readonly buckets: number) {}
  add(key: string, bucket: number, count: number) {
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= this.buckets) return;
    const values = this.sums.get(key) ?? new Array<number>(this.buckets).fill(0);
    values[bucket]! += count;
    this.sums.set(key, values);
  }
  series(order: readonly string[], bad: (key: string) => boolean, always = false): Series[] {
    const keys = [...order, ...[...this.sums.keys()].filter((k) => !order.includes(k)).sort()];
    return keys.flatMap((key) => {
      const values = this.sums.get(key);
      if (!values && !always) return [];
      return [{ key, bad: bad(key), values: values ?? new Array<number>(this.buckets).fill(0) }];
    });
  }
}

const keyedTally = (rows: KeyedCount[], buckets: number, rename: (key: string) => string = (k) => k) => {
  const tally = new Tally(buckets);
  for (const row of rows) tally.add(rename(row.key), row.bucket, row.count);
  return tally;
};
const sum = (series: Series[], which: (s: Series) => boolean = () => true) => series.filter(which).reduce((total, s) => total + s.values.reduce((a, b) => a + b, 0), 0);

export async function loadDashboard(db: Db, range: Range, now = new Date()): Promise<Dashboard> {
  const window = windowOf(range, now);
  const [audit, decided, delivered, backlog, held] = await Promise.all([
    auditCounts(db, window),
    decisionCounts(db, window),
    deliveryCounts(db, window),
    outboxBacklog(db),
    heldReviewCount(db),
  ]);
  const signIns = new Tally(window.buckets);
  const failedCodes = new Tally(window.buckets);
  const sends = keyedTally(delivered, window.buckets, (status) => (status === 'sent' ? 'delivered' : 'undelivered'));
  for (const row of audit) {
    const { signIn, code } = auditMeaning(row);
    if (signIn) signIns.add(`${signIn.method}.${signIn.outcome}`, row.bucket, row.count);
    if (code?.outcome === 'failed') failedCodes.add(code.channel, row.bucket, row.count);
    if (code?.outcome === 'sent') sends.add('requested', row.bucket, row.count);
  }
  const signInOrder = METHODS.flatMap((m) => [`${m}.success`, `${m}.failure`]);
  const signInSeries = signIns.series(signInOrder, (k) => k.endsWith('.failure'));
  return {
    window,
    signIns: signInSeries,
    failedCodes: failedCodes.series(['email', 'sms'], () => true, true),
    sends: sends.series(['requested', 'delivered', 'undelivered'], (k) => k === 'undelivered', true),
    decisions: keyedTally(decided, window.buckets).series(DECISION_OUTCOMES, (k) => k === 'BLOCK' || k === 'REVIEW', true),
    totals: {
      signIns: sum(signInSeries),
      failures: sum(signInSeries, (s) => s.bad),
      pending: backlog.pending,
      oldestPendingAt: backlog.oldestAt,
      held,
    },
  };
}
