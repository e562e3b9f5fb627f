// The delivery worker: claims due outbox messages, sends them through a channel, retries with
// exponential backoff and gives up loudly after `maxAttempts`. Runs in-process or as `sesame worker`.
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { claimDueMessages, markFailed, markSent, markSkipped, type ClaimedMessage } from '../storage/outbox.js';
import { DeliveryError } from './errors.js';
import { deliveries } from '../metrics/registry.js';

/** A message a channel chose not to send (`reason` is recorded); it is never retried. */
export interface Skipped {
  skipped: string;
}

/** What a channel did with a message: really sent it, or only captured it (dev and tests). */
export type Outcome = 'sent' | 'captured';

export interface Channel {
  /** Sends or throws a DeliveryError (a `permanent` one is not retried), or declines with Skipped. */
  send(message: ClaimedMessage): Promise<Outcome | Skipped>;
}

export interface WorkerOptions {
  maxAttempts: number;
  pollInterval: number;
  /** Seconds before the first retry; doubles per attempt. */
  retryDelay?: number;
  batchSize?: number;
}

/** How long a claim keeps other workers off a message. */
const LEASE_SECONDS = 60;

export function backoffSeconds(attempt: number, first = 5): number {
  return Math.min(first * 2 ** (attempt - 1), 3600);
}

export class DeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  /** The claim in progress: passes are one claim each; a wake meanwhile asks for one more (`again`). */
  private running: Promise<void> | undefined;
  private stopped = true;
  private again = false;
  /** Sends started by passes and not finished; at most `batchSize`, so a slow server cannot pile them up. */
  private readonly sending = new Set<Promise<void>>();
  /** A pass found no room under that cap: the next send to finish starts one. */
  private full = false;

  constructor(
    private readonly db: Db,
    private readonly channel: Channel,
    private readonly options: WorkerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Asks for an immediate pass (after an enqueue) instead of waiting for the next poll. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  /**
   * Stops polling and waits for the pass in flight, then makes one last pass so codes queued just
   * before a shutdown still go out; `drainMs` bounds it so a dead SMTP server cannot hold us up.
   */
  async stop(drainMs = 5000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.all(this.sending);
    if (drainMs <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)));
    await Promise.race([this.runOnce().catch((err: unknown) => this.log.error({ err }, 'final delivery pass failed')), timeout]);
    clearTimeout(timer);
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.claimAndSend()
        .catch((err: unknown) => this.log.error({ err }, 'delivery pass failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.again ? 0 : this.options.pollInterval);
          this.again = false;
        });
    }, delay);
    this.timer.unref();
  }

  /**
   * A scheduled pass: claims what is due and starts sending it without waiting for the sends, so a
   * message queued meanwhile is claimed by the next pass at once rather than after the slowest
   * send of this one. A full claim asks for another pass: more may be due.
   */
  private async claimAndSend(): Promise<void> {
    const limit = (this.options.batchSize ?? 20) - this.sending.size;
    if (limit <= 0) {
      this.full = true;
      return;
    }
    const leaseEnds = Date.now() + LEASE_SECONDS * 1000;
    const batch = await claimDueMessages(this.db, limit, LEASE_SECONDS);
    if (batch.length === limit) this.again = true;
    for (const message of batch) {
      const sent: Promise<void> = this.deliver(message, leaseEnds)
        .catch((err: unknown) => this.log.error({ err, messageId: message.id }, 'delivery pass failed'))
        .finally(() => {
          this.sending.delete(sent);
          if (this.full) {
            this.full = false;
            this.wake();
          }
        });
      this.sending.add(sent);
    }
  }

  /** One pass that waits for its sends (tests, and the last pass of stop()). Returns how many were claimed. */
  async runOnce(): Promise<number> {
    const leaseEnds = Date.now() + LEASE_SECONDS * 1000;
    const batch = await claimDueMessages(this.db, this.options.batchSize ?? 20, LEASE_SECONDS);
    await Promise.all(batch.map((m) => this.deliver(m, leaseEnds)));
    return batch.length;
  }

  private async deliver(message: ClaimedMessage, leaseEnds: number): Promise<void> {
    const attempt = message.attempts + 1;
    let outcome: Outcome | Skipped;
    try {
      outcome = await this.channel.send(message);
    } catch (err) {
      await this.recordFailure(message, attempt, err);
      return;
    }
    deliveries.inc({ channel: message.channel, outcome: typeof outcome === 'object' ? 'skipped' : outcome });
    if (typeof outcome === 'object') {
      // Nothing went out, so an unrecorded skip is simply decided again after the lease.
      await markSkipped(this.db, message.id, outcome.skipped);
      this.log.info({ messageId: message.id, channel: message.channel, reason: outcome.skipped }, 'message not sent');
      return;
    }
    // A captured message was never delivered: its row is the only way to read it (dev outbox,
    // tests). A delivered one keeps no code behind.
    await this.recordSent(message, attempt, leaseEnds, outcome === 'captured');
  }

  /**
   * Sent, so it must not be sent again: if the database is unreachable right now, keep trying to
   * record it while our lease keeps other workers off the message. Only an outage longer than the
   * lease lets another worker send it a second time (and that is logged).
   */
  private async recordSent(message: ClaimedMessage, attempt: number, leaseEnds: number, keepBody: boolean): Promise<void> {
    for (let wait = 250; ; wait = Math.min(2 * wait, 4000)) {
      try {
        await markSent(this.db, message.id, keepBody);
        this.log.info({ messageId: message.id, channel: message.channel, attempt }, 'message delivered');
        return;
      } catch (err) {
        if (Date.now() + wait >= leaseEnds) {
          this.log.error({ messageId: message.id, err }, 'message delivered but not recorded before its lease ran out; it may be sent again');
          return;
        }
        this.log.warn({ messageId: message.id, reason: (err as Error).message }, 'message delivered; recording it failed, retrying');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Not sent: retried later, or given up. (Unrecorded, the lease runs out and it is retried then.) */
  private async recordFailure(message: ClaimedMessage, attempt: number, err: unknown): Promise<void> {
    const reason = (err as Error).message;
    const permanent = err instanceof DeliveryError && err.permanent;
    const givenUp = permanent || attempt >= this.options.maxAttempts;
    // Counted when the channel failed, whether or not recording it below succeeds.
    deliveries.inc({ channel: message.channel, outcome: givenUp ? 'failed' : 'retry' });
    if (givenUp) {
      await markFailed(this.db, message.id, reason, null);
      this.log.error({ messageId: message.id, attempt, reason }, 'message given up');
    } else {
      const retryAt = new Date(Date.now() + backoffSeconds(attempt, this.options.retryDelay) * 1000);
      await markFailed(this.db, message.id, reason, retryAt);
      this.log.warn({ messageId: message.id, attempt, reason, retryAt }, 'message delivery failed, will retry');
    }
  }
}
