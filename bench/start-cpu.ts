// Server CPU per POST /passwordless/start (issue 18: <= 0.5 ms), measured by count rather than by
// throughput: a fixed number of starts at a fixed concurrency, the server's CPU seconds (its whole
// process tree, /proc) read before and after. Throughput and latency on a shared machine move with
// the other jobs; CPU time per request moves far less, so this compares two versions on a busy box.
// The SMTP server takes SLOW_SMTP_MS per message as in the bench's passwordless_start, so the
// outbox sends little during a round: what is measured is the request path.
//
//   tsx bench/start-cpu.ts [--targets sqlite,postgresql] [--starts 1500] [--rounds 3] [--concurrency 10] [--from src] [--cpu-prof]
import { parseArgs } from 'node:util';
import { addressPrefix, startBody } from './flows.js';
import { SLOW_DOMAIN, startBenchMail } from './mail.js';
import { join } from 'node:path';
import { cpuBetween, generateSigningKeys, makeWorkDir, profiling, ROOT, startSesameTarget, treeCpuSeconds, type Target } from './targets.js';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'sqlite,postgresql' },
    starts: { type: 'string', default: '1500' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '10' },
    from: { type: 'string', default: 'src' },
    'cpu-prof': { type: 'boolean' },
  },
});
const starts = Number(values.starts);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
// Each server writes a V8 CPU profile there when it stops.
if (values['cpu-prof']) profiling.dir = join(ROOT, 'bench/results/profiles');

/** Sends `count` starts, `concurrency` at a time; throws on any answer but 200. */
async function send(target: Target, count: number, prefix: string): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const email = `${prefix}-${next++}@${SLOW_DOMAIN}`;
      const res = await fetch(`${target.url}/passwordless/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: startBody(email) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`start answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

const keys = await generateSigningKeys();
const mail = await startBenchMail();
const workDir = makeWorkDir();
try {
  for (const engine of values.targets!.split(',') as ('sqlite' | 'postgresql')[]) {
    const target = await startSesameTarget({ engine, keys, smtpUrl: mail.url, from: values.from as 'src' | 'dist', workDir });
    try {
      // Warm-up: statements prepared, code paths compiled.
      await send(target, 1000, addressPrefix('warm', target));
      const each: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const before = treeCpuSeconds(target.pid);
        await send(target, starts, addressPrefix(`cpu${round}`, target));
        each.push((cpuBetween(before, treeCpuSeconds(target.pid)) * 1000) / starts);
      }
      console.log(`[${engine}] server CPU per start: ${each.map((ms) => ms.toFixed(3)).join(', ')} ms (${starts} starts, ${concurrency} at a time, per round)`);
    } finally {
      await target.stop();
    }
  }
} finally {
  await mail.close();
}
