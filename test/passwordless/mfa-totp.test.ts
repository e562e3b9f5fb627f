// Authenticator apps (TOTP) on both engines, with codes computed by otpauth from the secret the
// enrolment shows, as an app would: enrol, confirm, verify; and the attacks: a replayed code, one
// code used in parallel, a code from too far back, the secret read from the database, a sealed
// secret moved onto another row, another user's enrolment. Key rotation keeps old secrets readable.
import { randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { SesameError } from '../../src/errors.js';
import { keyring } from '../../src/passwordless/keyring.js';
import { listFactors } from '../../src/passwordless/mfa/factors.js';
import type { MfaDeps } from '../../src/passwordless/mfa/keys.js';
import { confirmTotp, enrolTotp, pendingTotpEnrolment, verifyTotp } from '../../src/passwordless/mfa/totp.js';
import { createLogger } from '../../src/log.js';
import { prepare } from '../../src/server.js';
import { sweepExpired } from '../../src/storage/sweep.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { createTestDatabase, ENGINES, withMigratedDb } from '../helpers/databases.js';

const OLD_KEY = 'old-mfa-key-0123456789abcdefghijklmnop';
const NEW_KEY = 'new-mfa-key-ponmlkjihgfedcba9876543210';
const config = loadConfig({}, { issuer: 'http://localhost:3000' });
// A step boundary (a multiple of 30 s), plus 10 s: the middle of step S.
const T = Date.parse('2030-01-01T00:00:00.000Z') + 10_000;
const S = Math.floor(T / 30_000);
const atStep = (step: number) => new Date(T + (step - S) * 30_000);
const codeAt = (secret: string, step: number) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: atStep(step).getTime() });

describe.each(ENGINES)('authenticator apps on %s', (engine) => {
  const deps = { config, mfaKeyring: keyring([OLD_KEY]) } as MfaDeps;
  withMigratedDb(engine, (db) => (deps.db = db));

  const newUser = () => upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
  async function enrolled(using: MfaDeps = deps) {
    const user = await newUser();
    const enrolment = await enrolTotp(using, user.id, atStep(S));
    expect(await confirmTotp(using, user.id, enrolment.authenticatorId, codeAt(enrolment.secret, S), atStep(S))).toEqual({ ok: true, authenticatorId: enrolment.authenticatorId });
    return { user, ...enrolment };
  }

  it('enrols (secret, otpauth URI, QR), confirms with a first code, then verifies codes of later steps once each', async () => {
    const user = await newUser();
    const enrolment = await enrolTotp(deps, user.id, atStep(S));
    const { authenticatorId, secret } = enrolment;
    expect(authenticatorId).toMatch(/^totp\|dev_[A-Za-z0-9_-]{22}$/);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enrolment.otpauthUri).toBe(`otpauth://totp/Sesame:${encodeURIComponent(user.email!)}?issuer=Sesame&secret=${secret}&algorithm=SHA1&digits=6&period=30`);
    expect(enrolment.qrSvg).toMatch(/^<svg [^>]*viewBox="0 0 \d+ \d+"[^>]*>.*<\/svg>$/s);
    expect(enrolment.qrSvg).not.toMatch(/<script|href=/);

    // Not a factor before its first code.
    expect(await listFactors(deps, user.id)).toEqual([
      { id: authenticatorId, type: 'totp', confirmed: false, name: null, phoneNumber: null, email: null, createdAt: atStep(S), lastUsedAt: null },
    ]);
    expect(await verifyTotp(deps, user.id, codeAt(secret, S), atStep(S))).toEqual({ ok: false, reason: 'not_enrolled' });
    expect(await confirmTotp(deps, user.id, authenticatorId, '000000', atStep(S))).toEqual({ ok: false, reason: 'wrong' });
    expect(await confirmTotp(deps, user.id, authenticatorId, codeAt(secret, S), atStep(S))).toEqual({ ok: true, authenticatorId });
    expect(await confirmTotp(deps, user.id, authenticatorId, codeAt(secret, S + 1), atStep(S + 1))).toEqual({ ok: false, reason: 'not_enrolled' });

    // The confirming code's step is used; the next step's code works once, typed with a space or not.
    expect(await verifyTotp(deps, user.id, codeAt(secret, S), atStep(S))).toEqual({ ok: false, reason: 'replayed' });
    const next = codeAt(secret, S + 1);
    expect(await verifyTotp(deps, user.id, `${next.slice(0, 3)} ${next.slice(3)}`, atStep(S + 1))).toEqual({ ok: true, authenticatorId });
    expect(await verifyTotp(deps, user.id, next, atStep(S + 1))).toEqual({ ok: false, reason: 'replayed' });
    expect(await verifyTotp(deps, user.id, 'abcdef', atStep(S + 1))).toEqual({ ok: false, reason: 'wrong' });
    expect(await listFactors(deps, user.id)).toEqual([
      { id: authenticatorId, type: 'totp', confirmed: true, name: null, phoneNumber: null, email: null, createdAt: atStep(S), lastUsedAt: atStep(S + 1) },
    ]);
  });

  it('accepts a code of the step before or after (clock drift), not two steps away, and never an older step after a newer one', async () => {
    const { user, secret, authenticatorId } = await enrolled();
    const now = atStep(S + 10);
    expect(await verifyTotp(deps, user.id, codeAt(secret, S + 8), now)).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifyTotp(deps, user.id, codeAt(secret, S + 12), now)).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifyTotp(deps, user.id, codeAt(secret, S + 9), now)).toEqual({ ok: true, authenticatorId });
    expect(await verifyTotp(deps, user.id, codeAt(secret, S + 11), now)).toEqual({ ok: true, authenticatorId });
    // Step S+10 is still unused, but older than S+11: a code seen earlier cannot be played after a later one.
    expect(await verifyTotp(deps, user.id, codeAt(secret, S + 10), now)).toEqual({ ok: false, reason: 'replayed' });
  });

  it('lets one code through once when it is used 10 times in parallel', async () => {
    const { user, secret, authenticatorId } = await enrolled();
    const code = codeAt(secret, S + 1);
    const results = await Promise.all(Array.from({ length: 10 }, () => verifyTotp(deps, user.id, code, atStep(S + 1))));
    expect(results.filter((r) => r.ok)).toEqual([{ ok: true, authenticatorId }]);
    expect(results.filter((r) => !r.ok)).toEqual(Array.from({ length: 9 }, () => ({ ok: false, reason: 'replayed' })));
  });

  it('keeps the secret only sealed: the row holds no base32 secret and no secret bytes', async () => {
    const { secret, authenticatorId } = await enrolled();
    const row = await deps.db.prisma.authenticator.findUniqueOrThrow({ where: { id: authenticatorId } });
    const text = JSON.stringify(row);
    expect(text).not.toContain(secret);
    expect(text.toUpperCase()).not.toContain(secret);
    const bytes = Buffer.from(Secret.fromBase32(secret).buffer);
    for (const encoding of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(bytes.toString(encoding).slice(0, 16));
    expect(row.secretKeyId).toBe(deps.mfaKeyring.current().id);
    expect(row.secretSealed).toMatch(/^[A-Za-z0-9_-]{70,}$/);
  });

  it('still opens secrets sealed under the old key after a rotation (new key first), and seals new ones under the new key', async () => {
    const { user, secret, authenticatorId } = await enrolled();
    const rotated = { ...deps, mfaKeyring: keyring([NEW_KEY, OLD_KEY]) };
    expect(await verifyTotp(rotated, user.id, codeAt(secret, S + 1), atStep(S + 1))).toEqual({ ok: true, authenticatorId });
    const later = await enrolled(rotated);
    const row = await deps.db.prisma.authenticator.findUniqueOrThrow({ where: { id: later.authenticatorId } });
    expect(row.secretKeyId).toBe(keyring([NEW_KEY]).current().id);
    // Once the old key is dropped, what it sealed no longer opens: no code is accepted for it.
    const dropped = { ...deps, mfaKeyring: keyring([NEW_KEY]) };
    expect(await verifyTotp(dropped, user.id, codeAt(secret, S + 2), atStep(S + 2))).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifyTotp(dropped, later.user.id, codeAt(later.secret, S + 2), atStep(S + 2))).toEqual({ ok: true, authenticatorId: later.authenticatorId });
  });

  it("refuses a sealed secret copied onto another user's authenticator (sealed to its own row)", async () => {
    const alice = await enrolled();
    const mallory = await enrolled();
    const stolen = await deps.db.prisma.authenticator.findUniqueOrThrow({ where: { id: alice.authenticatorId } });
    await deps.db.prisma.authenticator.update({ where: { id: mallory.authenticatorId }, data: { secretKeyId: stolen.secretKeyId, secretSealed: stolen.secretSealed } });
    expect(await verifyTotp(deps, mallory.user.id, codeAt(alice.secret, S + 1), atStep(S + 1))).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifyTotp(deps, mallory.user.id, codeAt(mallory.secret, S + 1), atStep(S + 1))).toEqual({ ok: false, reason: 'wrong' });
  });

  it("cannot confirm someone else's enrolment, even with the right code", async () => {
    const alice = await newUser();
    const mallory = await newUser();
    const enrolment = await enrolTotp(deps, alice.id, atStep(S));
    expect(await confirmTotp(deps, mallory.id, enrolment.authenticatorId, codeAt(enrolment.secret, S), atStep(S))).toEqual({ ok: false, reason: 'not_enrolled' });
    expect((await listFactors(deps, alice.id)).map((f) => f.confirmed)).toEqual([false]);
  });

  it('replaces an unfinished enrolment, and refuses a second app once one is confirmed', async () => {
    const user = await newUser();
    const first = await enrolTotp(deps, user.id, atStep(S));
    const second = await enrolTotp(deps, user.id, atStep(S));
    expect((await listFactors(deps, user.id)).map((f) => f.id)).toEqual([second.authenticatorId]);
    expect(await confirmTotp(deps, user.id, first.authenticatorId, codeAt(first.secret, S), atStep(S))).toEqual({ ok: false, reason: 'not_enrolled' });
    expect((await confirmTotp(deps, user.id, second.authenticatorId, codeAt(second.secret, S), atStep(S))).ok).toBe(true);
    const refusal = await enrolTotp(deps, user.id, atStep(S)).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(SesameError);
    expect(refusal).toMatchObject({ status: 409, code: 'conflict', description: 'User is already enrolled.' });
    await expect(enrolTotp(deps, randomUUID(), atStep(S))).rejects.toMatchObject({ status: 404, code: 'not_found', description: 'No such user.' });
  });

  it('sweeps enrolments left unfinished for a day, never a confirmed app', async () => {
    const abandoned = await newUser();
    const { authenticatorId } = await enrolTotp(deps, abandoned.id, atStep(S));
    const { user } = await enrolled();
    const dayLater = new Date(atStep(S).getTime() + 86400_000);
    const swept = await sweepExpired(deps.db, { auditRetention: config.audit.retention }, new Date(dayLater.getTime() - 1000));
    expect(swept.unconfirmedAuthenticators).toBe(0);
    expect((await listFactors(deps, abandoned.id)).map((f) => f.id)).toEqual([authenticatorId]);
    expect((await sweepExpired(deps.db, { auditRetention: config.audit.retention }, dayLater)).unconfirmedAuthenticators).toBeGreaterThanOrEqual(1);
    expect(await listFactors(deps, abandoned.id)).toEqual([]);
    expect((await listFactors(deps, user.id)).map((f) => f.confirmed)).toEqual([true]);
  });

  it("shows an enrolment again only to its user and only until its first code (the hosted page's reload)", async () => {
    const user = await newUser();
    const other = await newUser();
    const enrolment = await enrolTotp(deps, user.id, atStep(S));
    expect(await pendingTotpEnrolment(deps, user.id, enrolment.authenticatorId)).toEqual(enrolment);
    expect(await pendingTotpEnrolment(deps, other.id, enrolment.authenticatorId)).toBeNull();
    expect(await pendingTotpEnrolment(deps, user.id, 'totp|dev_unknown')).toBeNull();
    await confirmTotp(deps, user.id, enrolment.authenticatorId, codeAt(enrolment.secret, S), atStep(S));
    expect(await pendingTotpEnrolment(deps, user.id, enrolment.authenticatorId)).toBeNull();
  });
});

describe('the MFA keys', () => {
  it('are generated once and stored, so every instance and restart agrees, unless secrets.mfaKeys gives them', async () => {
    const database = await createTestDatabase('sqlite');
    const start = (overrides: Record<string, unknown> = {}) => prepare(loadConfig({}, { databaseUrl: database.url, ...overrides }), createLogger('silent'));
    try {
      const first = await start();
      const again = await start();
      const stored = JSON.parse((await first.db.prisma.secret.findUniqueOrThrow({ where: { name: 'mfa-keys' } })).value) as string[];
      expect(stored).toHaveLength(1);
      expect(first.mfaKeyring.all()).toEqual(keyring(stored).all());
      expect(again.mfaKeyring.current().id).toBe(first.mfaKeyring.current().id);
      expect(first.mfaKeyring.current().id).not.toBe(first.keyring.current().id);
      const configured = await start({ secrets: { mfaKeys: [NEW_KEY, OLD_KEY] } });
      expect(configured.mfaKeyring.all()).toEqual(keyring([NEW_KEY, OLD_KEY]).all());
      await Promise.all([first, again, configured].map((p) => p.db.close()));
    } finally {
      await database.drop();
    }
  });
});
