// Contract of the audit log's reader (storage/audit.ts queryAudit and its cursor), on SQLite and
// PostgreSQL: newest first with ties on one millisecond in id order, a walk that sees every older row
// once while writers insert in parallel, the user filter by id or identifier, and a cursor that only
// decodes when it is one encodeAuditCursor made.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { decodeAuditCursor, encodeAuditCursor, queryAudit, recordAudit, type AuditPosition } from '../../src/storage/audit.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

describe.each(ENGINES)('the audit reader on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => {
    db = opened;
  });
  beforeEach(async () => {
    await db.prisma.auditEvent.deleteMany();
  });

  it('walks every row once, newest first, while writers add rows in parallel', async () => {
    const base = Date.UTC(2010, 0, 1);
    // 30 rows over 10 milliseconds: three per millisecond, so pages end inside ties.
    await Promise.all(Array.from({ length: 30 }, (_, i) => recordAudit(db, { type: 'login', clientId: 'walk', userId: `u${i}` }, new Date(base + Math.floor(i / 3)))));
    const expected = (await db.prisma.auditEvent.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] })).map((r) => r.id);
    const seen: string[] = [];
    let after: AuditPosition | null = null;
    let firstPage: number | undefined;
    do {
      const cursor: AuditPosition | null = after ? decodeAuditCursor(encodeAuditCursor(after)) : null;
      const [page]: [Awaited<ReturnType<typeof queryAudit>>, ...unknown[]] = await Promise.all([
        queryAudit(db, { clientId: 'walk', after: cursor, limit: 4 }),
        ...Array.from({ length: 3 }, (_, i) => recordAudit(db, { type: 'login', clientId: 'walk', userId: `late${seen.length}-${i}` })),
      ]);
      seen.push(...page.events.map((e) => e.id));
      firstPage ??= page.events.length;
      after = page.next;
    } while (after);
    // Rows written during the walk are newer than all it walks: only the first page, read beside
    // the first writers (a prepared insert may commit before that read), can hold any of them.
    expect(seen.filter((id) => expected.includes(id))).toEqual(expected);
    expect(seen.slice(firstPage).every((id) => expected.includes(id))).toBe(true);
  });

  it('finds a user’s events by id or by the identifier they were about, and filters by types and time', async () => {
    const at = (day: number) => new Date(Date.UTC(2011, 0, day));
    await recordAudit(db, { type: 'code.sent', identifier: 'ann@example.com' }, at(1));
    await recordAudit(db, { type: 'login', userId: 'ann', identifier: 'ann@example.com' }, at(2));
    await recordAudit(db, { type: 'passkey.login', userId: 'ann' }, at(3));
    await recordAudit(db, { type: 'login', userId: 'bob' }, at(4));
    const types = async (q: Parameters<typeof queryAudit>[1]) => (await queryAudit(db, q)).events.map((e) => `${e.type}@${e.createdAt.getUTCDate()}`);
    expect(await types({ user: { id: 'ann', identifier: 'ann@example.com' }, limit: 10 })).toEqual(['passkey.login@3', 'login@2', 'code.sent@1']);
    expect(await types({ user: { identifier: 'ann@example.com' }, limit: 10 })).toEqual(['login@2', 'code.sent@1']);
    expect(await types({ user: {}, limit: 10 })).toEqual([]);
    expect(await types({ types: ['login', 'passkey.login'], from: at(2), to: at(4), limit: 10 })).toEqual(['passkey.login@3', 'login@2']);
    expect(await types({ limit: 0 })).toEqual(['login@4']);
  });

  it('decodes only the cursors it made', () => {
    const position = { createdAt: new Date('2012-03-04T05:06:07.089Z'), id: '9b2c7f0e-1d2a-4c5b-8e9f-0a1b2c3d4e5f' };
    expect(decodeAuditCursor(encodeAuditCursor(position))).toEqual(position);
    const encoded = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const bad of [
      '',
      'abc',
      '!!!',
      encoded([1.5, 'x']),
      encoded([-1, 'x']),
      encoded([1, '']),
      encoded([1, 'a b']),
      encoded([1, 'x', 2]),
      encoded({ 0: 1, 1: 'x' }),
      'x'.repeat(401),
    ]) {
      expect(decodeAuditCursor(bad), bad).toBeNull();
    }
  });
});
