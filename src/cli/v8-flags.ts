// The V8 settings every `sesame` process runs with (serve, its cluster workers, the other commands).
// They are set from inside the process, so `npm start`, `sesame serve`, `node dist/cli.js serve` and
// the workers that node:cluster forks all get them without a wrapper or NODE_OPTIONS. Only flags that
// V8 reads while running work this way: the heap's maximum sizes (`--max-old-space-size`,
// `--max-semi-space-size`) are fixed when the heap is made, before any of our code runs.
import { setFlagsFromString } from 'node:v8';

export const V8_FLAGS = [
  // Prisma's query compiler is a large WebAssembly module; V8's optimizing tier turns it into about
  // 70 MB of resident machine code. Our hot paths do not go through Prisma, so its baseline tier is
  // as fast in the bench (bench/: same req/s within noise, 60-70 MB less memory).
  '--liftoff-only',
  // After each full collection V8 lets the old generation grow to up to 4 times what survived
  // before collecting again; under the bench's load that took a server with 60 to 90 MB of live
  // objects to 250 MB of heap and 333 MiB resident. A fixed factor of 1.5 (read at every
  // collection) keeps the peak near 1.5 times the live set for a few more collections.
  '--heap-growing-percent=50',
];

/** The flags to set: each of V8_FLAGS unless the operator gave that flag to node already. */
export function v8FlagsToSet(execArgv: readonly string[], nodeOptions = ''): string[] {
  const name = (arg: string) =>
    arg
      .split('=')[0]!
      .replaceAll('_', '-')
      .replace(/^--no-/, '--');
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map(name);
  return V8_FLAGS.filter((flag) => !given.includes(name(flag)));
}

/** Sets the flags; call before anything compiles WebAssembly (so before Prisma loads). */
export function applyV8Flags(): void {
  for (const flag of v8FlagsToSet(process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString(flag);
}
