// The load of the scenarios autocannon cannot send (sign-ins through pages, passkey ceremonies, MFA
// grants, codes waited for in the mail): `concurrency` people each running one attempt after the
// other until the seconds are over; attempts in flight then are waited for and count.
import { percentile } from './report.js';

/** What one run of a load produced, whatever sent it. */
export interface Load {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  failure?: string;
}

/** What an attempt answers when its pool is used up. */
export const DRY = 'dry';

/** One attempt: its latency in ms, or the status that refused it and why. `status` is counted when given. */
export type Attempt = { ms: number; status?: number } | { refused: number; failure: string };

/**
 * Runs `attempt(n)` (n counting up across everyone) with `concurrency` at once for `seconds`.
 * A thrown error counts as an error, a refusal as a non-2xx answer; both keep the first reason.
 * `attempt` answers `dry` when nothing is left to attempt with (a pool used up): that person stops,
 * counted as one error, rather than spin through failures.
 */
export async function loop(concurrency: number, seconds: number, attempt: (n: number) => Promise<Attempt | typeof DRY>): Promise<Load> {
  const times: number[] = [];
  const statusCodes: Record<string, number> = {};
  let n = 0;
  let errors = 0;
  let non2xx = 0;
  let failure: string | undefined;
  const started = performance.now();
  const end = started + seconds * 1000;
  async function person() {
    while (performance.now() < end) {
      try {
        const result = await attempt(n++);
        if (result === DRY) {
          errors++;
          failure ??= 'the pool ran dry';
          return;
        }
        const status = 'refused' in result ? result.refused : result.status;
        if (status !== undefined) statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        if ('refused' in result) {
          non2xx++;
          failure ??= result.failure;
        } else times.push(result.ms);
      } catch (err) {
        errors++;
        failure ??= (err as Error).message;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, person));
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

/** Times `work` from now: the attempt's latency. */
export async function timed(work: () => Promise<unknown>): Promise<Attempt> {
  const t0 = performance.now();
  await work();
  return { ms: performance.now() - t0 };
}
