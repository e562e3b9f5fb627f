// Waiting for a condition instead of sleeping a fixed time: on a loaded machine any fixed time is
// either too short (the test flakes) or longer than needed. The deadline only bounds a failure.

export interface WaitOptions {
  /** Give up after this many ms (generous: it is only reached when the condition never holds). */
  timeout?: number;
  /** Ms between two checks; keep it coarse when each check costs a rate-limited request. */
  interval?: number;
  /** Named in the error when the deadline passes. */
  what?: string;
}

/** What `check` returns once it holds: anything but a falsy value. */
export type Held<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Polls `check` until it returns something truthy, and resolves with that; throws after `timeout`. */
export async function waitFor<T>(check: () => T | Promise<T>, { timeout = 30_000, interval = 50, what = 'a condition' }: WaitOptions = {}): Promise<Held<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value as Held<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
