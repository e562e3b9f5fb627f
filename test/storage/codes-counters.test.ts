// Contract of one-time codes (storage + issue/verify) and shared counters, on SQLite and PostgreSQL.
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type CodePolicy, issueCode, verifyCode } from '../../src/passwordless/codes.js';
import { keyring, type Keyring } from '../../src/passwordless/keyring.js';
import { consumeCode, findLiveCode, insertCode, spendAttempt } from '../../src/storage/codes.js';
import { blockedFor, claimCooldown, clearCounter, hitWindow, reserveFailure, sweepCounters, unhitWindow } from '../../src/storage/counters.js';
import type { Db } from '../../src/storage/db.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const uniq = (prefix: string) => `${prefix}-${randomUUID()}`;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);
const POLICY: CodePolicy = { length: 6, ttl: 600, maxAttempts: 5 };
const SECRET1 = 'first-code-key-0123456789abcdef';
const SECRET2 = 'second-code-key-fedcba9876543210';
const K1 = keyring([SECRET1]);
const K2 = keyring([SECRET2]);
const wrongCode = (code: string) => code.replace(/^./, (d) => String((Number(d) + 1) % 10));

describe.each(ENGINES)('one-time codes on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));

  const insert = async (flowKey: string, identifier: string, now: Date) => {
    const id = randomUUID();
    await insertCode(db, { id, flowKey, identifier, codeHash: `hash-${id}`, keyId: 'k', expiresAt: new Date(now.getTime() + 600_000) }, now);
    return id;
  };
  const live = (flowKey: string) => findLiveCode(db, flowKey);
  const retired = async (id: string) => (await db.prisma.oneTimeCode.findUniqueOrThrow({ where: { id } })).replacedAt;

  it("insertCode retires the earlier live code of the same flow only, never another flow's code of the identifier", async () => {
    const [f1, f2, f3, alice, bob, carol] = ['f1', 'f2', 'f3', 'alice', 'bob', 'carol'].map(uniq);
    const a = await insert(f1!, alice!, at(0));
    const b = await insert(f1!, bob!, at(1000)); // same flow: retires a
    expect(await retired(a)).toEqual(at(1000));
    expect((await live(f1!))?.id).toBe(b);

    const c = await insert(f2!, bob!, at(2000)); // same identifier, other flow (someone else's send): b stays
    const d = await insert(f3!, carol!, at(3000)); // unrelated: retires nothing
    expect(await retired(b)).toBeNull();
    expect(await retired(a)).toEqual(at(1000)); // already retired, not stamped again
    expect((await live(f1!))?.id).toBe(b);
    expect(await live(f2!)).toEqual({
      id: c,
      flowKey: f2,
      identifier: bob,
      codeHash: `hash-${c}`,
      keyId: 'k',
      attempts: 0,
      createdAt: at(2000),
      expiresAt: at(602_000),
    });
    expect((await live(f3!))?.id).toBe(d);
  });

  it('20 parallel spendAttempt calls with max 5 succeed exactly 5 times', async () => {
    const id = await insert(uniq('flow'), uniq('who'), new Date());
    const results = await Promise.all(Array.from({ length: 20 }, () => spendAttempt(db, id, 5)));
    expect(results.filter(Boolean)).toHaveLength(5);
    expect((await db.prisma.oneTimeCode.findUniqueOrThrow({ where: { id } })).attempts).toBe(5);
  });

  it('20 parallel consumeCode calls succeed exactly once', async () => {
    const flow = uniq('flow');
    const id = await insert(flow, uniq('who'), new Date());
    const results = await Promise.all(Array.from({ length: 20 }, () => consumeCode(db, id)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await live(flow)).toBeNull();
    expect(await spendAttempt(db, id, 5)).toBe(false);
  });

  it('verifyCode accepts the right code once, normalising spaces and dashes', async () => {
    const flow = uniq('flow');
    const { code } = await issueCode(db, POLICY, K1, flow, 'a@example.com');
    const row = (await live(flow))!;
    const spaced = `${code.slice(0, 3)} -${code.slice(3)}`;
    expect(await verifyCode(db, POLICY, K1, row, spaced)).toEqual({ ok: true, identifier: 'a@example.com' });
    expect(await live(flow)).toBeNull();
    expect((await verifyCode(db, POLICY, K1, row, code)).ok).toBe(false);
  });

  it('verifyCode counts wrong codes down, then refuses even the right one', async () => {
    const flow = uniq('flow');
    const { code } = await issueCode(db, POLICY, K1, flow, 'b@example.com');
    for (const left of [4, 3, 2, 1, 0]) {
      const row = (await live(flow))!;
      expect(await verifyCode(db, POLICY, K1, row, wrongCode(code))).toEqual({
        ok: false,
        reason: 'wrong',
        identifier: 'b@example.com',
        attemptsLeft: left,
      });
    }
    const row = (await live(flow))!;
    expect(row.attempts).toBe(5);
    expect(await verifyCode(db, POLICY, K1, row, code)).toEqual({ ok: false, reason: 'exhausted', identifier: 'b@example.com' });
  });

  it('verifyCode reports an expired code without spending an attempt', async () => {
    const flow = uniq('flow');
    const { code, expiresAt } = await issueCode(db, POLICY, K1, flow, 'c@example.com', at(0));
    expect(expiresAt).toEqual(at(600_000));
    const row = (await live(flow))!;
    for (const now of [at(600_000), at(601_000)]) {
      expect(await verifyCode(db, POLICY, K1, row, code, now)).toEqual({ ok: false, reason: 'expired', identifier: 'c@example.com' });
    }
    expect((await live(flow))!.attempts).toBe(0);
    expect(await verifyCode(db, POLICY, K1, row, code, at(599_999))).toEqual({ ok: true, identifier: 'c@example.com' });
  });

  it('stores codes only as keyed HMACs', async () => {
    const long: CodePolicy = { ...POLICY, length: 10 };
    for (let i = 0; i < 5; i++) {
      const flow = uniq('flow');
      const { code } = await issueCode(db, long, K1, flow, 'd@example.com');
      const stored = await db.prisma.oneTimeCode.findMany({ where: { flowKey: flow } });
      expect(stored).toHaveLength(1);
      expect(JSON.stringify(stored)).not.toContain(code);
    }
    // Same flow, identifier and code: the same key gives the same hash, another key a different one.
    const one: CodePolicy = { ...POLICY, length: 1 };
    const flow = uniq('flow');
    const issue = async (keys: Keyring) => {
      const { code } = await issueCode(db, one, keys, flow, 'd@example.com');
      return { code, row: (await live(flow))! };
    };
    const first = await issue(K1);
    const sameCode: { k1: string[]; k2: string[] } = { k1: [], k2: [] };
    for (let i = 0; i < 400 && !(sameCode.k1.length && sameCode.k2.length); i++) {
      const which = i % 2 ? 'k1' : 'k2';
      const next = await issue(which === 'k1' ? K1 : K2);
      if (next.code === first.code) sameCode[which].push(next.row.codeHash);
    }
    expect(sameCode.k1.length).toBeGreaterThan(0);
    expect(new Set(sameCode.k1)).toEqual(new Set([first.row.codeHash]));
    expect(sameCode.k2.length).toBeGreaterThan(0);
    expect(sameCode.k2).not.toContain(first.row.codeHash);
  });

  it('still verifies a code issued under an older key after a new key is prepended', async () => {
    const flow = uniq('flow');
    const { code } = await issueCode(db, POLICY, K1, flow, 'e@example.com');
    const old = (await live(flow))!;
    expect(await verifyCode(db, POLICY, K2, old, code)).toEqual({ ok: false, reason: 'wrong', identifier: 'e@example.com', attemptsLeft: 4 });
    const rotated = keyring([SECRET2, SECRET1]);
    expect(await verifyCode(db, POLICY, rotated, (await live(flow))!, code)).toEqual({ ok: true, identifier: 'e@example.com' });

    const fresh = uniq('flow');
    await issueCode(db, POLICY, rotated, fresh, 'f@example.com');
    expect((await live(fresh))!.keyId).not.toBe(old.keyId);
  });

  it('names the key of a stored code by the first 12 hex digits of its SHA-256, as rows written before the keyring do', async () => {
    const flow = uniq('flow');
    await issueCode(db, POLICY, keyring([SECRET2, SECRET1]), flow, 'g@example.com');
    expect((await live(flow))!.keyId).toBe(createHash('sha256').update(SECRET2).digest('hex').slice(0, 12));
    expect(K1.find(createHash('sha256').update(SECRET1).digest('hex').slice(0, 12))?.secret).toBe(SECRET1);
  });
});

describe.each(ENGINES)('counters on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));

  it('hitWindow counts hits and restarts once the window has passed', async () => {
    const key = uniq('hits');
    const seen: number[] = [];
    for (const ms of [0, 30_000, 59_999, 60_000, 61_000, 119_999, 120_000]) seen.push(await hitWindow(db, key, 60, at(ms)));
    expect(seen).toEqual([1, 2, 3, 1, 2, 3, 1]);
    expect(await db.prisma.counter.findUnique({ where: { key } })).toEqual({
      key,
      count: 1,
      windowStart: at(120_000),
      lastAt: at(120_000),
      expiresAt: at(180_000),
      blockedUntil: null,
    });
  });

  it('20 parallel hitWindow calls on one key end at exactly 20', async () => {
    const key = uniq('hits');
    const results = await Promise.all(Array.from({ length: 20 }, () => hitWindow(db, key, 60, at(0))));
    expect(results.filter((r) => r === 1)).toHaveLength(1);
    expect(Math.max(...results)).toBe(20);
    expect((await db.prisma.counter.findUniqueOrThrow({ where: { key } })).count).toBe(20);
  });

  it('claimCooldown lets exactly one of 10 parallel callers through', async () => {
    const key = uniq('cool');
    const results = await Promise.all(Array.from({ length: 10 }, () => claimCooldown(db, key, 30, at(0))));
    expect(results.sort((a, b) => a - b)).toEqual([0, ...Array(9).fill(30)]);
    expect(await claimCooldown(db, key, 30, at(29_000))).toBe(1);
    expect(await claimCooldown(db, key, 30, at(30_000))).toBe(0);
    expect(await claimCooldown(db, key, 30, at(31_000))).toBe(29);
  });

  it('reserveFailure reserves attempts, blocks by the delay policy as if each failed; clearCounter resets', async () => {
    const key = uniq('fail');
    const delayFor = (n: number) => (n >= 3 ? 10 * 2 ** (n - 3) : 0);
    expect(await reserveFailure(db, key, 3600, delayFor, at(0))).toEqual({ ok: true, failures: 1 });
    expect(await reserveFailure(db, key, 3600, delayFor, at(1000))).toEqual({ ok: true, failures: 2 });
    expect(await blockedFor(db, key, at(1000))).toBe(0);
    expect(await reserveFailure(db, key, 3600, delayFor, at(2000))).toEqual({ ok: true, failures: 3 });
    expect([await blockedFor(db, key, at(2000)), await blockedFor(db, key, at(11_500)), await blockedFor(db, key, at(12_000))]).toEqual([10, 1, 0]);
    expect(await reserveFailure(db, key, 3600, delayFor, at(5000))).toEqual({ ok: false, retryAfter: 7 });
    expect(await reserveFailure(db, key, 3600, delayFor, at(12_000))).toEqual({ ok: true, failures: 4 });
    expect(await blockedFor(db, key, at(12_000))).toBe(20);

    await clearCounter(db, key);
    expect(await blockedFor(db, key, at(12_000))).toBe(0);
    expect(await db.prisma.counter.findUnique({ where: { key } })).toBeNull();
    expect(await reserveFailure(db, key, 3600, delayFor, at(13_000))).toEqual({ ok: true, failures: 1 });
    // A streak older than its window starts over.
    expect(await reserveFailure(db, key, 3600, delayFor, at(3_614_000))).toEqual({ ok: true, failures: 1 });
    expect(await blockedFor(db, uniq('never'), at(0))).toBe(0);
  });

  it('20 parallel reserveFailure calls reserve only the attempts allowed before the delay starts', async () => {
    const key = uniq('fail');
    const delayFor = (n: number) => (n >= 3 ? 900 : 0);
    const results = await Promise.all(Array.from({ length: 20 }, () => reserveFailure(db, key, 3600, delayFor, at(0))));
    const reserved = results.filter((r) => r.ok).map((r) => (r as { failures: number }).failures);
    expect(reserved.sort()).toEqual([1, 2, 3]);
    expect(results.filter((r) => !r.ok)).toEqual(Array(17).fill({ ok: false, retryAfter: 900 }));
    expect((await db.prisma.counter.findUniqueOrThrow({ where: { key } })).count).toBe(3);
  });

  it('unhitWindow takes one hit back, never below zero', async () => {
    const key = uniq('hits');
    await hitWindow(db, key, 60, at(0));
    await hitWindow(db, key, 60, at(0));
    await unhitWindow(db, key);
    expect((await db.prisma.counter.findUniqueOrThrow({ where: { key } })).count).toBe(1);
    await unhitWindow(db, key);
    await unhitWindow(db, key);
    expect((await db.prisma.counter.findUniqueOrThrow({ where: { key } })).count).toBe(0);
  });

  it('sweepCounters deletes expired counters unless they still block', async () => {
    await db.prisma.counter.deleteMany();
    const row = (key: string, expiresAt: number, blockedUntil: number | null) => ({
      key,
      count: 1,
      windowStart: at(0),
      lastAt: at(0),
      expiresAt: at(expiresAt),
      blockedUntil: blockedUntil === null ? null : at(blockedUntil),
    });
    await db.prisma.counter.createMany({
      data: [row('expired', 10_000, null), row('edge', 20_000, null), row('unblocked', 5_000, 15_000), row('blocked', 5_000, 25_000), row('live', 21_000, null)],
    });
    expect(await sweepCounters(db, at(20_000))).toBe(3);
    const left = await db.prisma.counter.findMany({ select: { key: true } });
    expect(left.map((r) => r.key).sort()).toEqual(['blocked', 'live']);
    expect(await sweepCounters(db, at(20_000))).toBe(0);
  });
});
