// The limit records and check() on both engines: every key is the one earlier releases wrote (so
// live counters survive an upgrade), and each kind of limit turns counts into the decision it promises.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { check, countOf, forget, takeBack, waitLeft } from '../../src/risk/check.js';
import * as L from '../../src/risk/limits.js';
import { firstUse } from '../../src/risk/replay.js';
import type { Db } from '../../src/storage/db.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);
const uniq = () => randomUUID();

describe('limit records', () => {
  it('build the keys earlier releases wrote', () => {
    expect([
      L.SENDS_PER_IP.key('1.2.3.4', undefined),
      L.SENDS_PER_IP.key('1.2.3.4', 'public'),
      L.RESEND_COOLDOWN.key('a@x.test', 'n:1.2.3.0/24'),
      L.SENDS_PER_SCOPE.key('a@x.test', 'b:browser'),
      L.SENDS_PER_IDENTIFIER.key('a@x.test'),
      L.SENDS_PER_CLIENT.key('app'),
      L.CHECKS_PER_IP.key('1.2.3.4'),
      L.FAILURE_STREAK.key('a@x.test', 'n:1.2.3.0/24'),
      L.FAILURES_PER_IDENTIFIER.key('a@x.test'),
      L.CHECKS_PER_CLIENT.key('app'),
      L.TRUSTED_BROWSER.key('a@x.test', 'browser'),
      L.SMS_PER_PREFIX.key('+331234'),
      L.SMS_SENT.key('country:FR'),
      L.SMS_VERIFIED.key('prefix:+331234'),
      L.SMS_SLOWED.key('prefix:+331234', '1.2.3.0/24'),
      L.CLIENT_ASSERTION.key('app', 'jti-1'),
      L.EXTERNAL_ASSERTION.key('hash'),
    ]).toEqual([
      'send-ip:1.2.3.4',
      'send-ip-public:1.2.3.4',
      'send-cool:a@x.test:n:1.2.3.0/24',
      'send-hour:a@x.test:b:browser',
      'send-hour:a@x.test',
      'send-client:app',
      'verify-ip:1.2.3.4',
      'fail:a@x.test:n:1.2.3.0/24',
      'fail-day:a@x.test',
      'otp-client:app',
      'trust:a@x.test:browser',
      'sms-prefix:+331234',
      'sms-sent:country:FR',
      'sms-ok:prefix:+331234',
      'sms-slow:prefix:+331234:1.2.3.0/24',
      'assertion:app:jti-1',
      'external-assertion:hash',
    ]);
  });

  it('keep the windows of earlier releases', () => {
    expect([L.CLIENT_ASSERTION.window({ maxAge: 300 }), L.EXTERNAL_ASSERTION.window({ maxAge: 120, skew: 30 }), L.SMS_SLOWED.window()]).toEqual([301, 181, 60]);
    const p = { freeFailures: 3, maxFailureDelay: 60 };
    expect([1, 3, 4, 5, 9].map((n) => L.failureDelay(p, n))).toEqual([0, 0, 2, 4, 60]);
  });
});

describe.each(ENGINES)('check() on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));
  const cap = (max: number) => ({ clientId: uniq(), max });

  it('allows a count up to its ceiling, then refuses for the whole window', async () => {
    const c = cap(2);
    const seen = [];
    for (const ms of [0, 1000, 2000]) seen.push(await check(db, L.SENDS_PER_CLIENT, [c.clientId], c, at(ms)));
    expect(seen).toEqual([
      { kind: 'allow', count: 1 },
      { kind: 'allow', count: 2 },
      { kind: 'refuse', limit: 'sends per client', retryAfter: 3600, count: 3 },
    ]);
  });

  it('refuses a "rest of window" count until its window ends, and takes a hit back', async () => {
    const id = uniq();
    const p = { failuresPerIdentifierPerDay: 1 } as L.CodeLimitSettings;
    await check(db, L.FAILURES_PER_IDENTIFIER, [id], p, at(0));
    expect(await check(db, L.FAILURES_PER_IDENTIFIER, [id], p, at(86_000_000))).toEqual({ kind: 'refuse', limit: 'failures per identifier per day', retryAfter: 400, count: 2 });
    await takeBack(db, L.FAILURES_PER_IDENTIFIER, [id]);
    expect(await countOf(db, L.FAILURES_PER_IDENTIFIER, [id], p, at(86_000_000))).toBe(1);
  });

  it('delays during a cooldown and says how long is left', async () => {
    const subject: [string, string] = [uniq(), 'n:net'];
    const p = { resendCooldown: 30 } as L.CodeLimitSettings;
    expect(await check(db, L.RESEND_COOLDOWN, subject, p, at(0))).toEqual({ kind: 'allow', count: 0 });
    expect(await check(db, L.RESEND_COOLDOWN, subject, p, at(10_000))).toEqual({ kind: 'delay', limit: 'resend cooldown', retryAfter: 20 });
    expect(await waitLeft(db, L.RESEND_COOLDOWN, subject, p, at(25_000))).toBe(5);
  });

  it('counts a streak and delays it after the free failures; forget starts it over', async () => {
    const subject: [string, string] = [uniq(), 'n:net'];
    const p = { freeFailures: 1, maxFailureDelay: 60 } as L.CodeLimitSettings;
    expect(await check(db, L.FAILURE_STREAK, subject, p, at(0))).toEqual({ kind: 'allow', count: 1 });
    expect(await check(db, L.FAILURE_STREAK, subject, p, at(1000))).toEqual({ kind: 'allow', count: 2 });
    expect(await check(db, L.FAILURE_STREAK, subject, p, at(2000))).toEqual({ kind: 'delay', limit: 'failure streak', retryAfter: 1 });
    await forget(db, L.FAILURE_STREAK, subject);
    expect(await check(db, L.FAILURE_STREAK, subject, p, at(2000))).toEqual({ kind: 'allow', count: 1 });
  });

  it('lets a single-use token through once', async () => {
    const subject: [string, string] = ['app', uniq()];
    const results = await Promise.all([1, 2, 3].map(() => firstUse(db, L.CLIENT_ASSERTION, subject, { maxAge: 300 })));
    expect(results.sort()).toEqual([false, false, true]);
  });
});
