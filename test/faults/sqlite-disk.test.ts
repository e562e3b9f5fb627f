// SQLite on a disk that fills up or turns read-only under a running `sesame serve`. The database
// lives on a small tmpfs of its own. Writes must then fail with 503 temporarily_unavailable (never
// a 200 for a write that was lost, never a 500) and an error log line naming the cause; once the
// disk is usable again the same process serves writes again.
//
// Read-only: Linux refuses `mount -o remount,ro` (EBUSY, "mount point is busy") while any file on
// the filesystem is open for writing, and a running Sesame always holds its SQLite files open for
// writing; the kernel only turns such a filesystem read-only by itself after an I/O error (ext4
// errors=remount-ro), and that cannot be undone without unmounting. So the read-only disk is made
// the one way a live process can see it and get it back: strace attaches to the process and fails
// every write to the database files (and access() checks on them) with EROFS ("Read-only file
// system", what those calls return on a read-only filesystem), and detaching is the "remount rw".
// SQLite reports a failed write with EROFS as SQLITE_IOERR_WRITE ("disk I/O error"), exactly as it
// would on a filesystem the kernel turned read-only; SQLITE_READONLY only comes from connections
// opened while the file was not writable.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { pollUntil } from '../helpers/wait.js';
import { UNAVAILABLE, faultFixture, otpGrant, startCode, type Answer } from './fixture.js';

const SIZE = '16m';

/** Whether this process may mount a tmpfs (root, and a kernel/container that allows it). */
function probeMount(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `needs Linux tmpfs (platform ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'mount -t tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'sesame-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `mount -t tmpfs is not permitted here: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}` };
  } finally {
    rmdirSync(dir);
  }
}

const mountable = probeMount();
const strace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

/** Writes `path` until the filesystem has no room left; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const chunk of [Buffer.alloc(1 << 20, 1), Buffer.alloc(4096, 1), Buffer.alloc(512, 1)]) {
      for (;;) {
        try {
          const n = writeSync(fd, chunk);
          written += n;
          if (n < chunk.length) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** The error lines logged since `from` (index into logs()) that name the cause matching `cause`. */
function causeLines(lines: Array<Record<string, unknown>>, cause: RegExp) {
  return lines.filter((l) => (l.level as number) >= 50 && cause.test(JSON.stringify(l)));
}

/** What an error line says, short. */
function brief(l: Record<string, unknown>) {
  const err = l.err as { type?: string; code?: unknown; message?: string } | undefined;
  const { level: _level, time: _time, service: _service, pid: _pid, hostname: _hostname, requestId: _requestId, err: _err, ...rest } = l;
  return {
    ...rest,
    ...(err && {
      err: {
        type: err.type,
        code: err.code,
        message: String(err.message ?? '')
          .trim()
          .split('\n')
          .at(-1)
          ?.slice(0, 200),
      },
    }),
  };
}

// A serve child, a mount and strace on 2 loaded cores: each test may take well over the default 30 s.
describe.skipIf(!mountable.ok)(`SQLite on a full or read-only disk${mountable.ok ? '' : ` (skipped: ${mountable.reason})`}`, { timeout: 120_000 }, () => {
  let dir: string | undefined;
  let mounted = false;
  let s: ServeProcess | undefined;
  let sink: MailSink | undefined;
  let n = 0;
  const nextEmail = () => `disk${++n}@example.com`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sesame-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    mounted = true;
    sink = await startMailSink();
    s = await startServe({ databaseUrl: `file:${join(dir, 'sesame.db')}`, config: faultFixture, env: { SMTP_URL: sink.url } });
  });
  afterAll(async () => {
    await s?.stop();
    await sink?.close();
    if (dir && mounted) {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends a code; on 200 also waits for its mail and signs in with it (the write really happened). */
  async function sendsAndSignsIn(): Promise<void> {
    const email = nextEmail();
    expect(await startCode(s!.url, email)).toMatchObject({ status: 200, body: { email } });
    const res = await otpGrant(s!.url, email, codeFrom(await sink!.next(email, 15_000)));
    expect(res.status).toBe(200);
  }

  /** Polls with code sends until one answers 200 (the disk is usable again), at most `ms`. */
  async function recovers(ms: number): Promise<Answer[]> {
    const seen: Answer[] = [];
    const sends = async () => {
      const email = nextEmail();
      const res = await startCode(s!.url, email);
      seen.push(res);
      if (res.status === 200) await sink!.next(email, 15_000);
      return res.status === 200;
    };
    // The caller asserts on the answers seen, so a deadline passing is reported there.
    await pollUntil(sends, { timeout: ms, interval: 250 });
    return seen;
  }

  it('full disk: writes answer 503 temporarily_unavailable, logged as such; freeing space recovers', async () => {
    await sendsAndSignsIn();
    const pid = s!.child.pid;
    const logFrom = s!.logs().length;

    // Empty the WAL first (checkpoint and truncate it), so the next write needs new blocks rather
    // than reusing WAL frames already on disk: the full disk then meets every write.
    const db = new Database(join(dir!, 'sesame.db'));
    try {
      expect(db.pragma('wal_checkpoint(TRUNCATE)', { simple: false })).toMatchObject([{ busy: 0 }]);
    } finally {
      db.close();
    }
    const filler = join(dir!, 'filler');
    const filled = fill(filler);
    expect(filled).toBeGreaterThan(0);
    expect(statfsSync(dir!).bavail).toBe(0);
    const answers: Answer[] = [];
    try {
      for (let i = 0; i < 5; i++) answers.push(await startCode(s!.url, nextEmail()));
    } finally {
      unlinkSync(filler);
    }
    const errors = s!
      .logs()
      .slice(logFrom)
      .filter((l) => (l.level as number) >= 50);
    expect
      .soft(answers, `answers on a full disk; error lines: ${JSON.stringify(errors.slice(0, 6).map(brief))}`)
      .toEqual(answers.map(() => ({ status: 503, body: UNAVAILABLE, contentType: expect.stringContaining('json') })));
    expect
      .soft(causeLines(errors, /SQLITE_FULL|\bfull\b/i).length, `an error line naming the full disk; error lines: ${JSON.stringify(errors.slice(0, 6).map(brief))}`)
      .toBeGreaterThan(0);

    const seen = await recovers(30_000);
    expect(seen.at(-1)?.status, `answers after freeing space: ${JSON.stringify(seen.slice(-3))}`).toBe(200);
    await sendsAndSignsIn();
    expect(s!.child.pid).toBe(pid);
    expect(s!.child.exitCode).toBeNull();
  });

  it.skipIf(!strace)(
    `read-only disk${strace ? '' : ' (skipped: strace is not installed)'}: writes answer 503 temporarily_unavailable, logged as such; writable again recovers`,
    async () => {
      await sendsAndSignsIn();
      const pid = s!.child.pid!;
      const logFrom = s!.logs().length;

      // The database files and their directory: writes, truncation, removal, creation and access()
      // checks get EROFS, as on a read-only filesystem (access(W_OK) there says EROFS too; SQLite makes
      // no access() calls on these paths once open). Reads and opens are left alone.
      const files = [dir!, ...['sesame.db', 'sesame.db-wal', 'sesame.db-shm', 'sesame.db-journal'].map((f) => join(dir!, f))].flatMap((f) => ['-P', f]);
      const calls = 'pwrite64,write,pwritev,pwritev2,ftruncate,fallocate,unlink,unlinkat,rename,renameat,renameat2,mkdir,mkdirat,access,faccessat,faccessat2';
      const tracer = spawn('strace', ['-f', '-p', String(pid), '-e', `trace=${calls}`, '-e', `inject=${calls}:error=EROFS`, ...files, '-o', '/dev/null'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const answers: Answer[] = [];
      try {
        await attached(tracer, pid);
        for (let i = 0; i < 5; i++) answers.push(await startCode(s!.url, nextEmail()));
      } finally {
        await detach(tracer);
      }
      const errors = s!
        .logs()
        .slice(logFrom)
        .filter((l) => (l.level as number) >= 50);
      expect
        .soft(answers, `answers on a read-only disk; error lines: ${JSON.stringify(errors.slice(0, 6).map(brief))}`)
        .toEqual(answers.map(() => ({ status: 503, body: UNAVAILABLE, contentType: expect.stringContaining('json') })));
      expect
        .soft(
          causeLines(errors, /SQLITE_READONLY|read-?only|EROFS/i).length,
          `an error line naming the read-only disk; error lines: ${JSON.stringify(errors.slice(0, 6).map(brief))}`,
        )
        .toBeGreaterThan(0);

      const seen = await recovers(30_000);
      expect(seen.at(-1)?.status, `answers once writable again: ${JSON.stringify(seen.slice(-3))}`).toBe(200);
      await sendsAndSignsIn();
      expect(s!.child.pid).toBe(pid);
      expect(s!.child.exitCode).toBeNull();
    },
  );
});

/** Resolves once strace reports it is attached to `pid` (its injections are active from then). */
function attached(tracer: ChildProcess, pid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`strace did not attach to ${pid}: ${err}`)), 60_000);
    tracer.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes(`Process ${pid} attached`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    tracer.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strace exited (${code}) before attaching: ${err}`));
    });
  });
}

/** Detaches strace (SIGINT) and waits for it to exit; the process runs on, untraced. */
function detach(tracer: ChildProcess): Promise<void> {
  if (tracer.exitCode !== null || tracer.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    tracer.once('exit', () => resolve());
    tracer.kill('SIGINT');
  });
}
