// Recovery codes and the failure budget of second factors, on both engines. Recovery codes: 10
// shown once, stored only as MACs, each used once (also when raced), a new set voiding the old,
// readable after a key rotation, bound to their user. The budget: wrong authenticator-app and
// recovery codes spend the one-time codes' streak with growing delays, a right code waits out the
// delay too, and a guesser on another network slows only themselves.
import { randomInt, randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { keyring } from '../../src/passwordless/keyring.js';
import { checkFactorCode, listFactors, removeFactor, type FactorAsker } from '../../src/passwordless/mfa/factors.js';
import type { MfaDeps } from '../../src/passwordless/mfa/keys.js';
import { generateRecoveryCodes, regenerateRecoveryCodes, remainingRecoveryCodes, useRecoveryCode } from '../../src/passwordless/mfa/recovery-codes.js';
import { confirmTotp, enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const OLD_KEY = 'old-mfa-key-0123456789abcdefghijklmnop';
const NEW_KEY = 'new-mfa-key-ponmlkjihgfedcba9876543210';
const config = loadConfig({}, { issuer: 'http://localhost:3000' });
const T = Date.parse('2030-01-01T00:00:00.000Z') + 10_000;
const at = (seconds: number) => new Date(T + seconds * 1000);
const CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
/** A requester on a network of its own (limits are per /24), so tests never share a streak. */
const asker = (): FactorAsker => ({ ip: `10.${randomInt(256)}.${randomInt(256)}.7`, clientId: 'app' });

describe.each(ENGINES)('recovery codes on %s', (engine) => {
  const deps = { config, mfaKeyring: keyring([OLD_KEY]) } as MfaDeps;
  withMigratedDb(engine, (db) => (deps.db = db));
  const newUser = () => upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);

  it('shows 10 readable codes once, keeps only their MACs, and lets each work once', async () => {
    const user = await newUser();
    const { authenticatorId, codes } = await generateRecoveryCodes(deps, user.id, at(0));
    expect(authenticatorId).toMatch(/^recovery-code\|dev_[A-Za-z0-9_-]{22}$/);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(CODE_FORMAT);
    const rows = await deps.db.prisma.recoveryCode.findMany({ where: { userId: user.id } });
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify(rows);
    for (const code of codes) expect(stored).not.toContain(code.replace(/-/g, '').slice(0, 8));
    expect(await listFactors(deps, user.id)).toEqual([
      { id: authenticatorId, type: 'recovery-code', confirmed: true, name: null, phoneNumber: null, email: null, createdAt: at(0), lastUsedAt: null, remaining: 10 },
    ]);

    // Typed loosely: lower case, no dashes, spaces, O for 0 and l for 1 all compare equal.
    const loose = codes[0]!.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(await useRecoveryCode(deps, user.id, loose, at(1))).toBe(true);
    for (const code of codes.slice(1)) expect(await useRecoveryCode(deps, user.id, code, at(2))).toBe(true);
    for (const code of codes) expect(await useRecoveryCode(deps, user.id, code, at(3))).toBe(false);
    expect(await remainingRecoveryCodes(deps, user.id)).toBe(0);
    expect((await listFactors(deps, user.id))[0]).toMatchObject({ lastUsedAt: at(2), remaining: 0 });
    for (const junk of ['', 'XXXX-XXXX-XXX', 'UUUU-UUUU-UUUU', `${codes[0]}-0`]) expect(await useRecoveryCode(deps, user.id, junk, at(3))).toBe(false);
  });

  it('voids every earlier code when a new set is made, keeping one recovery-code factor', async () => {
    const user = await newUser();
    const first = await generateRecoveryCodes(deps, user.id, at(0));
    expect(await useRecoveryCode(deps, user.id, first.codes[0]!, at(1))).toBe(true);
    const second = await regenerateRecoveryCodes(deps, user.id, at(2));
    expect(second.authenticatorId).toBe(first.authenticatorId);
    expect(await remainingRecoveryCodes(deps, user.id)).toBe(10);
    for (const code of first.codes) expect(await useRecoveryCode(deps, user.id, code, at(3))).toBe(false);
    expect(await useRecoveryCode(deps, user.id, second.codes[9]!, at(3))).toBe(true);
    expect((await listFactors(deps, user.id)).map((f) => [f.type, f.remaining])).toEqual([['recovery-code', 9]]);
  });

  it('keeps one set of 10 when several sets are asked for at once, first ones or new ones', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await newUser();
      const firsts = await Promise.all([1, 2, 3, 4].map(() => generateRecoveryCodes(deps, user.id, at(0))));
      expect([await remainingRecoveryCodes(deps, user.id), (await listFactors(deps, user.id)).map((f) => f.type)]).toEqual([10, ['recovery-code']]);
      const working = await Promise.all(firsts.map(async (set) => useRecoveryCode(deps, user.id, set.codes[0]!, at(1))));
      expect(working.filter(Boolean)).toHaveLength(1);
      await Promise.all([1, 2, 3, 4].map(() => regenerateRecoveryCodes(deps, user.id, at(2))));
      expect([await remainingRecoveryCodes(deps, user.id), (await listFactors(deps, user.id)).map((f) => f.type)]).toEqual([10, ['recovery-code']]);
    }
  });

  it('lets one code through once when it is used 10 times in parallel', async () => {
    const user = await newUser();
    const { codes } = await generateRecoveryCodes(deps, user.id, at(0));
    const results = await Promise.all(Array.from({ length: 10 }, () => useRecoveryCode(deps, user.id, codes[4]!, at(1))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await remainingRecoveryCodes(deps, user.id)).toBe(9);
  });

  it('works only for its own user, and after a key rotation while the old key is kept', async () => {
    const alice = await newUser();
    const mallory = await newUser();
    const { codes } = await generateRecoveryCodes(deps, alice.id, at(0));
    await generateRecoveryCodes(deps, mallory.id, at(0));
    expect(await useRecoveryCode(deps, mallory.id, codes[0]!, at(1))).toBe(false);
    expect(await useRecoveryCode({ ...deps, mfaKeyring: keyring([NEW_KEY, OLD_KEY]) }, alice.id, codes[0]!, at(1))).toBe(true);
    expect(await useRecoveryCode({ ...deps, mfaKeyring: keyring([NEW_KEY]) }, alice.id, codes[1]!, at(1))).toBe(false);
  });

  it('removes a factor of its own user only, with its codes', async () => {
    const alice = await newUser();
    const mallory = await newUser();
    const { authenticatorId, codes } = await generateRecoveryCodes(deps, alice.id, at(0));
    expect(await removeFactor(deps, mallory.id, authenticatorId, asker())).toBe(false);
    expect(await useRecoveryCode(deps, alice.id, codes[0]!, at(1))).toBe(true);
    expect(await removeFactor(deps, alice.id, authenticatorId, asker())).toBe(true);
    expect(await listFactors(deps, alice.id)).toEqual([]);
    expect(await useRecoveryCode(deps, alice.id, codes[1]!, at(1))).toBe(false);
    expect(await removeFactor(deps, alice.id, authenticatorId, asker())).toBe(false);
  });
});

describe.each(ENGINES)('the failure budget of second factors on %s', (engine) => {
  const deps = { config, mfaKeyring: keyring([OLD_KEY]) } as MfaDeps;
  withMigratedDb(engine, (db) => (deps.db = db));

  /** A user with an authenticator app (confirmed at T) and recovery codes. */
  async function userWithFactors() {
    const user = await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
    const { authenticatorId, secret } = await enrolTotp(deps, user.id, at(0));
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    expect((await confirmTotp(deps, user.id, authenticatorId, totp.generate({ timestamp: at(0).getTime() }), at(0))).ok).toBe(true);
    const { codes } = await generateRecoveryCodes(deps, user.id, at(0));
    return { user, authenticatorId, codes, otp: (seconds: number) => totp.generate({ timestamp: at(seconds).getTime() }) };
  }
  const otp = (code: string) => ({ type: 'otp', code }) as const;
  const recovery = (code: string) => ({ type: 'recovery-code', code }) as const;
  const wrong = { ok: false, reason: 'wrong' };

  it('spends the streak on wrong app and recovery codes alike, with growing delays that a right code waits out too', async () => {
    const { user, authenticatorId, codes, otp: otpAt } = await userWithFactors();
    const who = asker();
    const check = (attempt: Parameters<typeof checkFactorCode>[2], seconds: number) => checkFactorCode(deps, user.id, attempt, who, at(seconds));
    // config.codes.freeFailures (5) are free; the 6th is tried, then blocks 2 s; the 7th 4 s.
    for (const attempt of [otp('000000'), recovery('AAAA-BBBB-CCCC'), otp('111111'), recovery('not a code'), otp('222222'), otp('333333')]) {
      expect(await check(attempt, 40)).toEqual(wrong);
    }
    expect(await check(otp(otpAt(40)), 40)).toEqual({ ok: false, reason: 'delayed', retryAfter: 2 });
    expect(await check(recovery(codes[0]!), 41)).toEqual({ ok: false, reason: 'delayed', retryAfter: 1 });
    expect(await check(otp('444444'), 42)).toEqual(wrong);
    expect(await check(otp(otpAt(43)), 43)).toEqual({ ok: false, reason: 'delayed', retryAfter: 3 });
    // After the delay the right code works, the streak starts over: five free failures again.
    expect(await check(otp(otpAt(46)), 46)).toEqual({ ok: true, authenticatorId });
    for (let i = 0; i < 5; i++) expect(await check(otp('555555'), 47)).toEqual(wrong);
    expect(await check(recovery(codes[0]!), 47)).toEqual({ ok: true, authenticatorId: expect.stringMatching(/^recovery-code\|/) });
    // The delayed attempts never reached the compare: that recovery code was still unused above.
    expect(await remainingRecoveryCodes(deps, user.id)).toBe(9);
  });

  it('counts a replayed app code as a failure, and records failures and successes in the audit', async () => {
    const { user, authenticatorId, otp: otpAt } = await userWithFactors();
    const who = asker();
    expect(await checkFactorCode(deps, user.id, otp(otpAt(60)), who, at(60))).toEqual({ ok: true, authenticatorId });
    for (let i = 0; i < 6; i++) expect(await checkFactorCode(deps, user.id, otp(otpAt(60)), who, at(61))).toEqual({ ok: false, reason: 'replayed' });
    expect(await checkFactorCode(deps, user.id, otp(otpAt(90)), who, at(61))).toEqual({ ok: false, reason: 'delayed', retryAfter: 2 });
    const events = await deps.db.prisma.auditEvent.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
    expect(events.map((e) => [e.type, e.reason, e.count, e.ip, e.clientId])).toEqual([
      ['mfa.verified', 'otp', 1, who.ip, 'app'],
      ['mfa.failed', 'otp:replayed', 6, who.ip, 'app'],
    ]);
  });

  it("does not let a guesser on another network delay the user's own attempt", async () => {
    const { user, authenticatorId, otp: otpAt } = await userWithFactors();
    const guesser = asker();
    for (let i = 0; i < 6; i++) await checkFactorCode(deps, user.id, otp('999999'), guesser, at(100));
    expect(await checkFactorCode(deps, user.id, otp('999999'), guesser, at(100))).toMatchObject({ ok: false, reason: 'delayed' });
    expect(await checkFactorCode(deps, user.id, otp(otpAt(100)), { ip: '192.0.2.10' }, at(100))).toEqual({ ok: true, authenticatorId });
  });

  it('finishes an enrolment through the budget too', async () => {
    const user = await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
    const { authenticatorId, secret } = await enrolTotp(deps, user.id, at(0));
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at(0).getTime() });
    const who = asker();
    expect(await checkFactorCode(deps, user.id, { type: 'otp', code: '000000', confirming: authenticatorId }, who, at(0))).toEqual(wrong);
    expect(await checkFactorCode(deps, user.id, { type: 'otp', code, confirming: authenticatorId }, who, at(0))).toEqual({ ok: true, authenticatorId });
    expect((await listFactors(deps, user.id)).map((f) => f.confirmed)).toEqual([true]);
  });
});
