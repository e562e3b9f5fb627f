// Memory of the ASN tables (src/risk/ip-asn.ts): RSS, V8 heap used, external and ArrayBuffer memory
// before the load, right after it, and after a forced GC, plus the process's peak RSS (the kernel's
// high-water mark, so a transient peak during the load shows) and the load's wall and CPU time.
// A module path compares another version of the loader in the same time window (an old commit's
// worktree: its src/risk/ip-asn.ts, or its dist/risk/ip-asn.js).
//
//   node --expose-gc --import tsx bench/asn-memory.ts [path/to/ip-asn.ts]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as IpAsn from '../src/risk/ip-asn.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (see the header)');
const path = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : '../src/risk/ip-asn.js';
const { asnOf, asnTables } = (await import(path)) as typeof IpAsn;

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1).padStart(7);
function line(label: string) {
  const m = process.memoryUsage();
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(`${label.padEnd(12)} rss ${mib(m.rss)}  heapUsed ${mib(m.heapUsed)}  external ${mib(m.external)}  arrayBuffers ${mib(m.arrayBuffers)}  peak rss ${mib(peak)}  (MiB)`);
}

gc();
line('before');
const cpu = process.cpuUsage();
const started = performance.now();
await asnTables();
const used = process.cpuUsage(cpu);
const wall = performance.now() - started;
line('after load');
// ArrayBuffers are freed by a sweeper after the collection: a few turns of the loop let it finish.
for (let i = 0; i < 3; i++) {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 50));
}
line('after gc');
console.log(`load: ${wall.toFixed(0)} ms wall, ${((used.user + used.system) / 1000).toFixed(0)} ms CPU; 8.8.8.8 -> ${JSON.stringify(await asnOf('8.8.8.8'))}`);
