// `npm run bench -- --soak <minutes>`: a steady mixed load (refresh, userinfo, client credentials)
// on one Sesame for that long, with short-lived access tokens and a sweep of expired rows every
// half minute, so that rows keep being written, expiring and swept; resident memory is sampled
// every 10 s. What it looks for: memory that keeps growing after the warm-up of the first minute.
import { cannon, newState, sampled, type Scenario } from './scenarios.js';
import { soakFigures, labelOf, type SoakReport } from './report.js';
import type { Tokens } from './flows.js';
import { treeRssMiB, type Target } from './targets.js';

export const SOAK_SAMPLE_S = 10;
/** Merged over the bench's Sesame config for the soak. */
export const SOAK_CONFIG = { sweepInterval: 30, tokens: { accessToken: 60 } };
const MIX: Array<Extract<Scenario, 'refresh' | 'userinfo' | 'client_credentials'>> = ['refresh', 'userinfo', 'client_credentials'];

export async function soak(target: Target, pool: Tokens[], minutes: number, connections: number, say: (line: string) => void) {
  // Userinfo sends the access tokens refresh answers bring: the pool's expire after a minute.
  const state = newState(pool);
  const seconds = Math.round(minutes * 60);
  const shares = MIX.map((_, i) => Math.floor(connections / MIX.length) + (i < connections % MIX.length ? 1 : 0));
  const started = Date.now();
  const samples: SoakReport['samples'] = [{ seconds: 0, rssMiB: treeRssMiB(target.pid) }];
  const sampler = setInterval(() => {
    const sample = { seconds: Math.round((Date.now() - started) / 1000), rssMiB: treeRssMiB(target.pid) };
    samples.push(sample);
    if (sample.seconds % 60 < SOAK_SAMPLE_S) say(`[soak] ${sample.seconds} s: RSS ${sample.rssMiB.toFixed(0)} MiB`);
  }, SOAK_SAMPLE_S * 1000);
  const { result, usage } = await sampled(target, () => Promise.all(MIX.map((scenario, i) => cannon(target, scenario, state, shares[i]!, seconds))));
  clearInterval(sampler);
  samples.push({ seconds: Math.round((Date.now() - started) / 1000), rssMiB: treeRssMiB(target.pid) });
  const rows = MIX.map((scenario, i) => ({
    scenario,
    connections: shares[i]!,
    rps: result[i]!.requests / result[i]!.seconds,
    ...result[i]!,
    ...(scenario === 'refresh' ? { poolDry: state.dry } : {}),
  }));
  return { minutes, connections, config: SOAK_CONFIG, rows, usage, samples, ...soakFigures(samples, rows, labelOf({ target: target.name, workers: target.workers })) };
}
