// `mail_handoff` (issue 18 item 2): from the moment a code is asked for (POST /passwordless/start)
// to the moment the bench's SMTP server has the whole message, the time a person waits for the mail
// beyond the mail system itself. Requesters each ask, wait for their mail, and ask again, at most
// CODE_FLOW_CONCURRENCY at once (the load of code_flow: people, not API clients). The outbox worker
// is woken by the request after its commit, so the poll (200 ms in the bench) never shows.
import { addressPrefix, startBody } from './flows.js';
import type { BenchMail } from './mail.js';
import { loop, type Load } from './loop.js';
import type { Check, Row } from './report.js';
import { labelOf } from './report.js';
import type { Target } from './targets.js';

export const HANDOFF = 'mail_handoff';
/** Targets of issue 18: the hand-off's median and 99th percentile, in ms. */
export const HANDOFF_P50_MS = 20;
export const HANDOFF_P99_MS = 100;

/** `concurrency` requesters for `seconds`; latencies are request-to-SMTP hand-offs. */
export function handoffLoop(target: Target, mail: BenchMail, concurrency: number, seconds: number): Promise<Load> {
  const prefix = addressPrefix('handoff', target);
  return loop(concurrency, seconds, async (n) => {
    const email = `${prefix}-${n}@bench.test`;
    const t0 = performance.now();
    const response = await fetch(new URL('/passwordless/start', target.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: startBody(email) });
    if (!response.ok) return { refused: response.status, failure: `POST /passwordless/start answered ${response.status}: ${await response.text()}` };
    await response.arrayBuffer();
    return { status: response.status, ms: (await mail.next(email, 30_000)).receivedAt - t0 };
  });
}

export function handoffChecks(rows: Row[]): Check[] {
  return rows
    .filter((r) => r.scenario === HANDOFF)
    .map((r) => ({
      pass: r.requests > 0 && r.p50 <= HANDOFF_P50_MS && r.p99 <= HANDOFF_P99_MS && r.errors + r.non2xx === 0,
      what: `mail_handoff on ${labelOf(r)}: request to SMTP server p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms over ${r.requests} codes, ${r.errors + r.non2xx} errors (target p50 <= ${HANDOFF_P50_MS} ms, p99 <= ${HANDOFF_P99_MS} ms)`,
    }));
}
