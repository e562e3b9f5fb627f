// `mail_handoff` (issue 18 item 2): from the moment a code is asked for (POST /passwordless/start)
// to the moment the bench's SMTP server has the whole message, the time a person waits for the mail
// beyond the mail system itself. Requesters each ask, wait for their mail, and ask again, at most
// CODE_FLOW_CONCURRENCY at once (the load of code_flow: people, not API clients). The outbox worker
// is woken by the request after its commit, so the poll (200 ms in the bench) never shows.
import { addressPrefix, startBody } from './flows.js';
import type { BenchMail } from './mail.js';
import type { Check, Row } from './report.js';
import { labelOf, percentile } from './report.js';
import type { Load } from './scenarios.js';
import type { Target } from './targets.js';

export const HANDOFF = 'mail_handoff';
/** Targets of issue 18: the hand-off's median and 99th percentile, in ms. */
export const HANDOFF_P50_MS = 20;
export const HANDOFF_P99_MS = 100;

/** `concurrency` requesters for `seconds`; latencies are request-to-SMTP hand-offs. */
export async function handoffLoop(target: Target, mail: BenchMail, concurrency: number, seconds: number): Promise<Load> {
  const prefix = addressPrefix('handoff', target);
  const times: number[] = [];
  const statusCodes: Record<string, number> = {};
  let n = 0;
  let errors = 0;
  let non2xx = 0;
  let failure: string | undefined;
  const started = performance.now();
  const end = started + seconds * 1000;
  async function requester() {
    while (performance.now() < end) {
      const email = `${prefix}-${n++}@bench.test`;
      const t0 = performance.now();
      try {
        const response = await fetch(new URL('/passwordless/start', target.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: startBody(email) });
        statusCodes[response.status] = (statusCodes[response.status] ?? 0) + 1;
        if (!response.ok) {
          non2xx++;
          failure ??= `POST /passwordless/start answered ${response.status}: ${await response.text()}`;
          continue;
        }
        await response.arrayBuffer();
        times.push((await mail.next(email, 30_000)).receivedAt - t0);
      } catch (err) {
        errors++;
        failure ??= (err as Error).message;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, requester));
  times.sort((a, b) => a - b);
  return {
    requests: times.length,
    seconds: (performance.now() - started) / 1000,
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    errors,
    non2xx,
    statusCodes,
    ...(failure ? { failure } : {}),
  };
}

export function handoffChecks(rows: Row[]): Check[] {
  return rows
    .filter((r) => r.scenario === HANDOFF)
    .map((r) => ({
      pass: r.requests > 0 && r.p50 <= HANDOFF_P50_MS && r.p99 <= HANDOFF_P99_MS && r.errors + r.non2xx === 0,
      what: `mail_handoff on ${labelOf(r)}: request to SMTP server p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms over ${r.requests} codes, ${r.errors + r.non2xx} errors (target p50 <= ${HANDOFF_P50_MS} ms, p99 <= ${HANDOFF_P99_MS} ms)`,
    }));
}
