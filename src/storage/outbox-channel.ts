// PostgreSQL LISTEN/NOTIFY for the outbox: an instance that queued a message tells the others'
// delivery workers at once instead of leaving it to their next poll. One dedicated connection per
// process (not one held out of the pool Prisma and the requests share), reconnected with backoff
// after any error: a notice lost while it is down only falls back to the poll, and each reconnect
// counts as a notice, so what was queued meanwhile is looked at then.
import pg from 'pg';
import type { Logger } from '../log.js';

export interface OutboxChannel {
  /** The channel's name (outboxChannelName). */
  readonly name: string;
  /** Sends a notice carrying `origin` (its own process ignores it); resolves once PostgreSQL took it. */
  notify(origin: string): Promise<void>;
  close(): Promise<void>;
}

export interface OutboxChannelOptions {
  /** A notice from another process (origin differs), or a (re)connection. */
  onNotice(origin: string | null): void;
  log: Logger;
  /** First reconnect delay, ms; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * The channel's name: one per schema, so instances on other schemas of one database (tests, the
 * bench) never wake each other. PostgreSQL cuts identifiers at 63 bytes; schema names are ASCII.
 */
export function outboxChannelName(databaseUrl: string): string {
  const schema = new URL(databaseUrl).searchParams.get('schema');
  return `sesame_outbox${schema ? `_${schema}` : ''}`.slice(0, 63);
}

const quoted = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/** Opens the channel; it connects (and reconnects) by itself until closed. */
export function openOutboxChannel(databaseUrl: string, options: OutboxChannelOptions): OutboxChannel {
  const listener = new Listener(databaseUrl, options);
  void listener.connect().catch(() => undefined);
  return listener;
}

class Listener implements OutboxChannel {
  readonly name: string;
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delay: number;
  private closed = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly options: OutboxChannelOptions,
  ) {
    this.name = outboxChannelName(databaseUrl);
    this.delay = options.retryMs ?? 250;
  }

  async notify(origin: string): Promise<void> {
    // Without a connection the notice is dropped: the other workers' polls stay the fallback.
    const current = this.client ?? (await this.connecting);
    if (!current) return;
    await current.query('SELECT pg_notify($1, $2)', [this.name, origin]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.connecting?.catch(() => undefined);
    const current = this.client;
    this.client = undefined;
    await current?.end().catch(() => undefined);
  }

  connect(): Promise<pg.Client> {
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<pg.Client> {
    // Keep-alive probes notice a connection that died silently (no reset), which LISTEN alone never would.
    const next = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: 'sesame outbox listener',
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    next.on('error', (err) => this.dropped(next, err));
    next.on('end', () => this.dropped(next, new Error('connection ended')));
    try {
      await next.connect();
      // A notice needs no durability (a lost one falls back to the poll), and PostgreSQL holds its
      // database-wide notify lock until the commit returns: without the WAL flush, that is short.
      await next.query('SET synchronous_commit = off');
      await next.query(`LISTEN ${quoted(this.name)}`);
      if (this.closed) throw new Error('outbox channel closed');
    } catch (err) {
      await next.end().catch(() => undefined);
      if (!this.closed) {
        this.options.log.warn({ reason: (err as Error).message, retryInMs: this.delay }, 'outbox LISTEN connection failed; retrying');
        this.scheduleConnect();
      }
      throw err;
    }
    next.on('notification', (n) => {
      if (n.channel === this.name) this.options.onNotice(n.payload ?? '');
    });
    this.client = next;
    this.delay = this.options.retryMs ?? 250;
    // Notices sent while we were not listening are lost: look at the outbox now.
    this.options.onNotice(null);
    return next;
  }

  /** An error or end of the listening connection (one still connecting fails its attempt instead). */
  private dropped(failed: pg.Client, err: unknown): void {
    if (this.client !== failed) return;
    this.client = undefined;
    failed.end().catch(() => undefined);
    if (this.closed) return;
    this.options.log.warn({ reason: (err as Error | undefined)?.message, retryInMs: this.delay }, 'outbox LISTEN connection lost; reconnecting');
    this.scheduleConnect();
  }

  private scheduleConnect(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect().catch(() => undefined), this.delay);
    this.retryTimer.unref();
    this.delay = Math.min(2 * this.delay, this.options.maxRetryMs ?? 10_000);
  }
}
