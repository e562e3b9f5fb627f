// The management API's audit log on a running server, on both databases: each filter alone and
// together, a cursor walk across pages while new events arrive (no duplicates, no gaps, ties on the
// same millisecond kept in order), an erased user's pseudonymous trail as stored, every answer
// checked against the served OpenAPI document. The attacks: a tampered or made-up cursor, bad dates
// and types are 400s naming the parameter; a token without audit:read gets a 403.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit, type AuditEntry } from '../../src/storage/audit.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { documentedApi, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

describe.each(ENGINES)('the audit log in the management API on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let reader: string;
  beforeAll(async () => {
    t = await startTestSesame(engine, usersFixture);
    api = await documentedApi(t);
    reader = await tokenOf(t, 'audit:read');
  });
  afterAll(() => t?.stop());

  const mark = randomUUID().slice(0, 8);
  /** Writes `entry` at `at` and returns it as the API shows it. */
  async function event(entry: AuditEntry, at: string) {
    await recordAudit(t.sesame.services.db, entry, new Date(at));
    const row = await t.sesame.services.db.prisma.auditEvent.findFirstOrThrow({ where: { type: entry.type, createdAt: new Date(at), clientId: entry.clientId ?? null } });
    return {
      id: row.id,
      type: entry.type,
      createdAt: new Date(at).toISOString(),
      lastAt: null,
      count: 1,
      userId: entry.userId ?? null,
      clientId: entry.clientId ?? null,
      identifier: entry.identifier ?? null,
      ip: entry.ip ?? null,
      reason: entry.reason ?? null,
      userAgent: entry.userAgent ?? null,
    };
  }
  const page = (events: unknown[], next: string | null = null) => ({ status: 200, body: { events, next_cursor: next } });

  it('filters by user, client, types and time, each alone and together, newest first', async () => {
    const [u1, u2, appA, appB] = [`u1-${mark}`, `u2-${mark}`, `a-${mark}`, `b-${mark}`];
    const e1 = await event(
      { type: 'login', userId: u1, clientId: appA, identifier: 'one@example.com', ip: '192.0.2.1', reason: 'email_code', userAgent: 'UA/1' },
      '2001-03-01T10:00:00.000Z',
    );
    const e2 = await event({ type: 'code.sent', userId: u2, clientId: appA, identifier: '+14155550100' }, '2001-03-02T10:00:00.000Z');
    const e3 = await event({ type: 'login', userId: u2, clientId: appB, reason: 'sms_code' }, '2001-03-03T10:00:00.000Z');
    const e4 = await event({ type: 'passkey.login', userId: u1, clientId: appB }, '2001-03-04T10:00:00.000Z');
    const e5 = await event({ type: 'login', userId: u1, clientId: appA, reason: '=HYPERLINK("x")' }, '2001-03-05T10:00:00.000Z');

    expect(await api('GET', `/audit?user_id=${u1}`, reader)).toEqual(page([e5, e4, e1]));
    expect(await api('GET', `/audit?client_id=${appA}`, reader)).toEqual(page([e5, e2, e1]));
    expect(await api('GET', '/audit?type=login,passkey.login&from=2001-01-01&to=2002-01-01', reader)).toEqual(page([e5, e4, e3, e1]));
    expect(await api('GET', '/audit?type=code.sent&from=2001-01-01&to=2002-01-01', reader)).toEqual(page([e2]));
    // from is inclusive, to exclusive; a date-time with an offset counts in UTC.
    expect(await api('GET', `/audit?client_id=${appB}&from=2001-03-03T10:00:00Z&to=2001-03-04T12:00:00%2B02:00`, reader)).toEqual(page([e3]));
    expect(await api('GET', '/audit?from=2001-03-02&to=2001-03-04', reader)).toEqual(page([e3, e2]));
    expect(await api('GET', `/audit?user_id=${u1}&client_id=${appA}&type=login&from=2001-03-02`, reader)).toEqual(page([e5]));
    expect(await api('GET', `/audit?user_id=${u1}&client_id=${appB}&type=login`, reader)).toEqual(page([]));
    expect(await api('GET', `/audit?user_id=nobody-${mark}`, reader)).toEqual(page([]));
    // The admin scope reads it too.
    expect(await api('GET', `/audit?user_id=${u2}`, await tokenOf(t, 'admin'))).toEqual(page([e3, e2]));
  });

  it('walks every page once with the cursor while new events arrive, ties on one millisecond in id order', async () => {
    const app = `walk-${mark}`;
    const old = [];
    for (let i = 0; i < 5; i++) old.push(await event({ type: 'login', clientId: app, userId: `w${i}-${mark}` }, `2002-05-0${i + 1}T00:00:00.000Z`));
    // Three events in one millisecond: their order is the id's, and a page may end between them.
    for (let i = 0; i < 3; i++) await recordAudit(t.sesame.services.db, { type: 'link.used', clientId: app, userId: `tie${i}-${mark}` }, new Date('2002-05-03T12:00:00.000Z'));
    const ties = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { clientId: app, type: 'link.used' }, orderBy: { id: 'desc' } });
    const expected = [old[4]!.id, old[3]!.id, ...ties.map((r) => r.id), old[2]!.id, old[1]!.id, old[0]!.id];

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const answer: Answer = await api('GET', `/audit?client_id=${app}&limit=3${cursor ? `&cursor=${cursor}` : ''}`, reader);
      expect(answer.status).toBe(200);
      seen.push(...answer.body.events.map((e: { id: string }) => e.id));
      cursor = answer.body.next_cursor;
      pages++;
      // Events of the same client arriving now: newer than the walk, so they never shift it.
      await recordAudit(t.sesame.services.db, { type: 'login', clientId: app, userId: `new${pages}-${mark}` });
    } while (cursor);
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    // A fresh first page starts with what arrived meanwhile.
    const fresh = await api('GET', `/audit?client_id=${app}&limit=200`, reader);
    expect(fresh.body.events.map((e: { userId: string }) => e.userId).slice(0, 3)).toEqual([`new3-${mark}`, `new2-${mark}`, `new1-${mark}`]);
    expect(fresh.body.events).toHaveLength(11);
  });

  it('shows an erased user’s events as stored: the pseudonymous id, no address, IP or browser', async () => {
    const email = `erased-${mark}@example.com`;
    const user = await upsertVerifiedEmailUser(t.sesame.services.db, email);
    await recordAudit(t.sesame.services.db, { type: 'login', userId: user.id, clientId: 'native', identifier: email, ip: '198.51.100.7', reason: 'email_code', userAgent: 'UA/2' });
    const writer = await tokenOf(t, 'users:write');
    expect((await api('DELETE', `/users/${user.id}`, writer)).status).toBe(204);
    const answer = await api('GET', `/audit?user_id=${user.id}`, reader);
    expect(answer.status).toBe(200);
    const login = answer.body.events.find((e: { type: string }) => e.type === 'login');
    expect(login).toEqual({
      id: expect.any(String),
      type: 'login',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
      lastAt: null,
      count: 1,
      userId: user.id,
      clientId: 'native',
      identifier: null,
      ip: null,
      reason: 'email_code',
      userAgent: null,
    });
    expect(JSON.stringify(answer.body)).not.toContain(email);
  });

  it('refuses a tampered cursor, bad dates, types and limits with a 400 naming the parameter', async () => {
    const bad = (detail: string) => ({ status: 400, body: { error: 'invalid_request', error_description: detail } });
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const notCursor = bad('cursor: not a cursor this API gave.');
    expect(await api('GET', '/audit?cursor=abc', reader)).toEqual(notCursor);
    expect(await api('GET', '/audit?cursor=%25%25%25', reader)).toEqual(notCursor);
    expect(await api('GET', `/audit?cursor=${cursor(['1', 'x'])}`, reader)).toEqual(notCursor);
    expect(await api('GET', `/audit?cursor=${cursor([1e300, 'x'])}`, reader)).toEqual(notCursor);
    expect(await api('GET', `/audit?cursor=${cursor([1, "x' OR 1=1 --"])}`, reader)).toEqual(notCursor);
    expect(await api('GET', `/audit?cursor=${cursor({ at: 1, id: 'x' })}`, reader)).toEqual(notCursor);
    const dates = 'must be an ISO 8601 date-time with an offset, or a date.';
    expect(await api('GET', '/audit?from=yesterday', reader)).toEqual(bad(`from: ${dates}`));
    expect(await api('GET', '/audit?to=2026-02-30', reader)).toEqual(bad(`to: ${dates}`));
    expect(await api('GET', '/audit?from=2026-01-01T10:00:00', reader)).toEqual(bad(`from: ${dates}`));
    expect(await api('GET', '/audit?from=2026-02-01&to=2026-01-01', reader)).toEqual(bad('to: must not be before from.'));
    expect(await api('GET', '/audit?type=login,drop%20table', reader)).toEqual(bad('type: a comma-separated list of at most 30 event types.'));
    expect(await api('GET', `/audit?type=${Array.from({ length: 31 }, (_, i) => `t${i}`).join(',')}`, reader)).toEqual(
      bad('type: a comma-separated list of at most 30 event types.'),
    );
    expect(await api('GET', '/audit?limit=201', reader)).toEqual(bad('limit: Too big: expected number to be <=200.'));
    expect(await api('GET', '/audit?limit=0', reader)).toEqual(bad('limit: Too small: expected number to be >=1.'));
    expect(await api('GET', '/audit?user_id=a&user_id=b', reader)).toEqual(bad('user_id: Invalid input: expected string, received array.'));
    expect(await api('GET', '/audit?event=login', reader)).toEqual(bad('query: Unrecognized key: "event".'));
  });

  it('needs audit:read (or admin): another area’s token gets a 403, no token a 401', async () => {
    const lacks = { status: 403, body: { error: 'insufficient_scope', error_description: 'The access token lacks the scope audit:read (or admin).' } };
    expect(await api('GET', '/audit', await tokenOf(t, 'users:read users:write'))).toEqual(lacks);
    expect(await api('GET', '/audit', await tokenOf(t, 'outbox:read'))).toEqual(lacks);
    expect(await api('GET', '/audit', null)).toEqual({
      status: 401,
      body: { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' },
    });
    const document = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { security: unknown }>> };
    expect(document.paths['/audit']!.get!.security).toEqual([{ clientCredentials: ['audit:read'] }, { clientCredentials: ['admin'] }]);
  });
});
