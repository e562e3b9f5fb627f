// Waiting for a condition instead of sleeping a fixed time: on a loaded machine any fixed time is
// either too short (the test flakes) or longer than needed. The deadline only bounds a failure.

export interface WaitOptions {
  /** Give up after this many ms (generous: it is only reached when the condition never holds). */
  timeout?: number;
  /** Ms between two checks; keep it coarse when each check costs a rate-limited request. */
  interval?: number;
  /** Named in the error when the deadline passes. */
  what?: string;
  /** Appended to the error when the deadline passes: what the wait saw (a log tail, say). */
  detail?: () => string;
}

/** What `check` returns once it holds: anything but a falsy value. */
export type Held<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Polls `check` until it returns something truthy, and resolves with that; throws after `timeout`. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<Held<T>> {
  const value = await pollUntil(check, options);
  if (value) return value;
  const { timeout = 30_000, what = 'a condition', detail } = options;
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail ? `:\n${detail()}` : ''}`);
}

/**
 * `waitFor` that resolves `undefined` when the deadline passes instead of throwing, for a caller
 * whose own assertions report better what it saw (the samples it gathered while waiting).
 */
export async function pollUntil<T>(check: () => T | Promise<T>, { timeout = 30_000, interval = 50 }: WaitOptions = {}): Promise<Held<T> | undefined> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value as Held<T>;
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
