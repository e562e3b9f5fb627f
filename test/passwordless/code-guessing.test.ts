// Parallel guesses at one sign-in code (issue 18: a code check's limits are one statement on
// PostgreSQL, one transaction on SQLite). A burst of wrong codes from one network gets exactly the
// free failures and the one that earns the delay evaluated, the right code waits out each delay
// like any guess, and past the identifier's daily ceiling exactly the ceiling is evaluated: the
// streak and the day are counted in one order, so no guess slips between them. The clock is
// frozen (Date only; the database's I/O runs) so every guess of a burst shares one instant.
import { randomInt, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { issueCode } from '../../src/passwordless/codes.js';
import { keyring } from '../../src/passwordless/keyring.js';
import { checkCode, type CheckResult, type CodeCheckDeps, type Requester } from '../../src/passwordless/one-time-codes.js';
import { requesterNetwork } from '../../src/passwordless/requester-network.js';
import { FAILURE_STREAK, FAILURES_PER_IDENTIFIER } from '../../src/risk/limits.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const BURST = 20;
const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
/** A requester on a network of its own, so tests never share a streak. */
const requester = (): Requester => ({ ip: `10.${randomInt(256)}.${randomInt(256)}.7`, clientId: 'app', locale: 'en' });
const reasonsOf = (results: CheckResult[]) => results.map((r) => (r.ok ? 'ok' : r.reason)).sort();
const times = <T>(n: number, value: T): T[] => Array(n).fill(value);

describe.each(ENGINES)('parallel guesses at one code on %s', (engine) => {
  const codes = { maxAttempts: 10, freeFailures: 3, maxFailureDelay: 900, failuresPerIdentifierPerDay: 100 };
  const deps = {
    config: loadConfig({}, { issuer: 'http://localhost:3000', codes, rateLimits: { verifiesPerIpPerMinute: 1000 } }),
    keyring: keyring(['guess-code-key-0123456789abcdef']),
  } as CodeCheckDeps;
  withMigratedDb(engine, (db) => (deps.db = db));
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
  });
  afterEach(() => vi.useRealTimers());

  const at = (seconds: number) => vi.setSystemTime(T0 + seconds * 1000);
  const burst = (flow: string, code: string, who: Requester) => Promise.all(Array.from({ length: BURST }, () => checkCode(deps, flow, code, who)));
  const counter = (key: string) => deps.db.prisma.counter.findUnique({ where: { key } });
  const attemptsOf = async (flow: string) => (await deps.db.prisma.oneTimeCode.findFirstOrThrow({ where: { flowKey: flow } })).attempts;

  async function codeFor(email: string) {
    const flow = `i:${randomUUID()}`;
    const { code } = await issueCode(deps.db, deps.config.codes, deps.keyring, flow, email);
    return { flow, code };
  }

  it('evaluates exactly the free failures and the one that earns the delay; the right code waits each delay out', async () => {
    const email = `${randomUUID()}@example.com`;
    const who = requester();
    const streakKey = FAILURE_STREAK.key(email, `n:${requesterNetwork(who.ip)}`);
    const { flow, code } = await codeFor(email);

    // Failures 1 to 3 are free, the 4th blocks for 2 s: 4 guesses compared, none after.
    const first = await burst(flow, wrong(code), who);
    expect(reasonsOf(first)).toEqual([...times(BURST - 4, 'delayed'), ...times(4, 'wrong')]);
    expect(first.filter((r) => !r.ok && r.reason === 'delayed').map((r) => !r.ok && r.retryAfter)).toEqual(times(BURST - 4, 2));
    expect(await counter(streakKey)).toMatchObject({ count: 4, blockedUntil: new Date(T0 + 2000) });
    expect((await counter(FAILURES_PER_IDENTIFIER.key(email)))?.count).toBe(4);
    expect(await attemptsOf(flow)).toBe(4);

    // The right code, during the block: never compared, nothing counted.
    at(1);
    expect(reasonsOf(await burst(flow, code, who))).toEqual(times(BURST, 'delayed'));
    expect(await attemptsOf(flow)).toBe(4);
    expect((await counter(streakKey))?.count).toBe(4);

    // Once the block is over, one guess per delay: the 5th failure blocks for 4 s.
    at(2);
    const second = await burst(flow, wrong(code), who);
    expect(reasonsOf(second)).toEqual([...times(BURST - 1, 'delayed'), 'wrong']);
    expect(await counter(streakKey)).toMatchObject({ count: 5, blockedUntil: new Date(T0 + 6000) });
    at(5);
    expect(reasonsOf(await burst(flow, code, who))).toEqual(times(BURST, 'delayed'));

    // After it the right code signs in, once; the streak is cleared and its attempt no failure of the day.
    at(6);
    expect(reasonsOf([await checkCode(deps, flow, code, who)])).toEqual(['ok']);
    expect(await counter(streakKey)).toBeNull();
    expect((await counter(FAILURES_PER_IDENTIFIER.key(email)))?.count).toBe(5);
  });

  it("past the identifier's daily ceiling, a network evaluates exactly the ceiling's guesses", async () => {
    const ceiling = { ...deps, config: { ...deps.config, codes: { ...deps.config.codes, freeFailures: 50, failuresPerIdentifierPerDay: 2 } } };
    const email = `${randomUUID()}@example.com`;
    const who = requester();
    const { flow, code } = await codeFor(email);
    // No delay (50 free failures): only the day's ceiling of 2 stops this network (it has failures).
    const results = await Promise.all(Array.from({ length: BURST }, () => checkCode(ceiling, flow, wrong(code), who)));
    expect(reasonsOf(results)).toEqual([...times(BURST - 2, 'delayed'), 'wrong', 'wrong']);
    expect(await attemptsOf(flow)).toBe(2);
    expect(reasonsOf([await checkCode(ceiling, flow, code, who)])).toEqual(['delayed']);
    // A network with no failures still gets its try, and the right code signs in.
    expect(reasonsOf([await checkCode(ceiling, flow, code, requester())])).toEqual(['ok']);
  });
});
