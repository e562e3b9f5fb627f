// Wakes delivery workers when a message was queued, so a code leaves within milliseconds instead of
// at the next poll (which stays as the fallback). Call notify() only once the message's transaction
// has committed: a worker woken earlier finds nothing and goes back to sleep until its poll. In this
// process the wake is a call; on PostgreSQL a NOTIFY also reaches every other instance and
// `sesame worker` (storage/outbox-channel.ts). SQLite has no such channel: there each process that
// serves requests runs its own worker (with `--workers`, every cluster worker does), so the one that
// queued a message is always woken, and a separate `sesame worker` on the file relies on its poll.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { openOutboxChannel, type OutboxChannel } from '../storage/outbox-channel.js';

export class OutboxWake {
  private readonly listeners = new Set<() => void>();
  /** Tells this process's notices from the others' on the shared channel. */
  private readonly origin = randomUUID();
  private channel: OutboxChannel | undefined;
  private sending = false;
  private again = false;

  constructor(private readonly log: Logger) {}

  /** On PostgreSQL, listens for other instances' notices (and starts sending our own). */
  listen(databaseUrl: string, provider: 'sqlite' | 'postgresql'): void {
    if (provider !== 'postgresql' || this.channel) return;
    this.channel = openOutboxChannel(databaseUrl, {
      log: this.log,
      onNotice: (origin) => {
        if (origin !== this.origin) this.emit();
      },
    });
  }

  /** `wake` runs on every notice (its own process's or, when listening, another's); returns its removal. */
  subscribe(wake: () => void): () => void {
    this.listeners.add(wake);
    return () => this.listeners.delete(wake);
  }

  /** A message was queued and committed: wakes this process's worker, and the others through the channel. */
  notify(): void {
    this.emit();
    if (this.channel) this.broadcast();
  }

  async close(): Promise<void> {
    const channel = this.channel;
    this.channel = undefined;
    this.listeners.clear();
    await channel?.close();
  }

  private emit(): void {
    for (const wake of this.listeners) wake();
  }

  /**
   * One NOTIFY at a time; notices asked for meanwhile share one more, sent after it. That one
   * still starts after their messages committed, which is all a listener needs to find them. Sent
   * on the channel's own connection, never inside a request's statement: PostgreSQL serialises the
   * commits of notifying transactions (one database-wide lock held through each WAL flush), so one
   * in flight per process keeps the requests out of that queue.
   */
  private broadcast(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    const channel = this.channel;
    if (!channel) return;
    this.sending = true;
    channel
      .notify(this.origin)
      .catch((err: unknown) => this.log.debug({ reason: (err as Error).message }, 'outbox NOTIFY not sent; other instances poll'))
      .finally(() => {
        this.sending = false;
        if (this.again) {
          this.again = false;
          this.broadcast();
        }
      });
  }
}
