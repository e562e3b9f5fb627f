// CPU per hosted sign-in (issue 18 item 1), measured by count rather than by throughput: a fixed
// number of code_flow sign-ins (bench/flows.ts: authorize, hosted pages, the code from the bench's
// SMTP sink, callback, token exchange) at a fixed concurrency, with the CPU seconds of the server's
// process tree, of this process (HTTP client and SMTP sink) and of PostgreSQL read before and after.
// On a shared 2-core machine sign-ins per second move with the other jobs; this split says where a
// sign-in's CPU goes, and so what a second worker can win. `--risk` alternates rounds through the bench
// client with the ten-rule policy (bench/actions.ts, code_flow_risk) with plain rounds on the same server.
//
//   tsx bench/signin-cpu.ts [--targets sqlite,postgresql] [--workers 1] [--signins 600] [--rounds 2]
//                           [--concurrency 10] [--from dist] [--risk] [--cpu-prof]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { policyOff, policyOn } from './actions.js';
import { addressPrefix, inParallel, signIn } from './flows.js';
import { startBenchMail } from './mail.js';
import {
  CLIENT,
  cpuBetween,
  generateSigningKeys,
  makeWorkDir,
  postgresCpuSeconds,
  profiling,
  RISK_CLIENT,
  ROOT,
  startSesameTarget,
  treeCpuSeconds,
  type Target,
} from './targets.js';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'sqlite,postgresql' },
    workers: { type: 'string', default: '1' },
    signins: { type: 'string', default: '600' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '10' },
    from: { type: 'string', default: 'dist' },
    risk: { type: 'boolean' },
    'cpu-prof': { type: 'boolean' },
  },
});
const signins = Number(values.signins);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const workers = Number(values.workers);
const clients = values.risk ? [CLIENT, RISK_CLIENT] : [CLIENT];
if (values['cpu-prof']) profiling.dir = join(ROOT, 'bench/results/profiles');

const keys = await generateSigningKeys();
const mail = await startBenchMail();
const workDir = makeWorkDir();
const ms = (seconds: number) => ((seconds * 1000) / signins).toFixed(2);

async function run(target: Target, count: number, what: string, client: typeof CLIENT) {
  const prefix = addressPrefix(`${what}-${client.client_id}`, target);
  await inParallel(count, concurrency, (n) => signIn(target, `${prefix}-${n}`, mail, client));
}

try {
  for (const engine of values.targets!.split(',') as ('sqlite' | 'postgresql')[]) {
    const target = await startSesameTarget({ engine, keys, smtpUrl: mail.url, from: values.from as 'src' | 'dist', workDir, workers });
    try {
      if (values.risk) await policyOn(target, 'code_flow_risk');
      // Warm-up: statements prepared, code paths compiled, in every worker.
      for (const client of clients) await run(target, 200 * workers, 'warm', client);
      for (let round = 0; round < rounds; round++) {
        for (const client of clients) {
          const before = { server: treeCpuSeconds(target.pid), self: process.cpuUsage(), db: postgresCpuSeconds(), t: performance.now() };
          await run(target, signins, `cpu${round}`, client);
          const self = process.cpuUsage(before.self);
          const server = cpuBetween(before.server, treeCpuSeconds(target.pid));
          const db = engine === 'postgresql' ? cpuBetween(before.db, postgresCpuSeconds()) : 0;
          const seconds = (performance.now() - before.t) / 1000;
          console.log(
            `[${engine}${workers > 1 ? ` ×${workers}` : ''}${client === RISK_CLIENT ? ' risk' : ''}] CPU ms per sign-in: server ${ms(server)}, bench ${ms((self.user + self.system) / 1e6)}, postgres ${ms(db)}` +
              ` (${signins} sign-ins, ${concurrency} at a time, ${(signins / seconds).toFixed(0)}/s)`,
          );
        }
      }
      if (values.risk) await policyOff(target, 'code_flow_risk');
    } finally {
      await target.stop();
    }
  }
} finally {
  await mail.close();
  rmSync(workDir, { recursive: true, force: true });
}
