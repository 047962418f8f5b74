/**
 * Small building blocks of the live streams (subscriptions): no GraphQL, no I/O.
 */

/**
 * A mailbox that keeps only the newest value: a slow reader skips what it missed
 * instead of queueing it (a ticker needs the latest count, not every step).
 */
export class Latest<T> {
  private value: T | undefined;
  private has = false;
  private wake: (() => void) | undefined;
  private closed = false;

  put(v: T): void {
    this.value = v;
    this.has = true;
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** The newest value not taken yet; waits for one. Undefined once closed. */
  async take(): Promise<T | undefined> {
    while (!this.has && !this.closed) {
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
    if (this.closed) return undefined;
    this.has = false;
    const v = this.value;
    this.value = undefined;
    return v;
  }
}

type Tick = () => void;
const tickers = new Set<Tick>();
let clock: ReturnType<typeof setTimeout> | undefined;

function schedule() {
  // Aligned to the wall clock's whole seconds, so every countdown in the process moves together.
  clock = setTimeout(() => {
    for (const t of [...tickers]) {
      try {
        t();
      } catch {
        // ignore: one listener must not stop the clock
      }
    }
    if (tickers.size > 0) schedule();
    else clock = undefined;
  }, 1000 - (Date.now() % 1000) || 1000);
  clock.unref?.();
}

/**
 * Calls `tick` at every whole second of the wall clock. One timer serves the whole
 * process however many countdowns are open; it stops when nobody listens.
 */
export function everySecond(tick: Tick): () => void {
  tickers.add(tick);
  if (!clock) schedule();
  return () => {
    tickers.delete(tick);
  };
}

/** Resolves when `signal` aborts (never rejects). */
export function aborted(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
}

export interface Watch<R, E> {
  /** The state read after the subscription was in place. */
  first: R;
  events: AsyncIterable<E>;
  /** Aborted when the watch ends or the caller's signal aborts. */
  local: AbortController;
  /** Ends the watch: stops the subscription and lets go of the caller's signal. */
  end(): void;
}

/**
 * Subscribes to one id's events, then reads its current state, so no event can fall
 * between the two. Undefined (and nothing left open) when there is nothing to watch.
 */
export async function subscribeThenRead<R, E>(
  subscribe: (signal: AbortSignal) => AsyncIterable<E>,
  read: () => Promise<R | undefined>,
  signal: AbortSignal,
): Promise<Watch<R, E> | undefined> {
  const local = new AbortController();
  const stopLocal = () => local.abort();
  signal.addEventListener('abort', stopLocal, { once: true });
  const end = () => {
    local.abort();
    signal.removeEventListener('abort', stopLocal);
  };
  const events = subscribe(local.signal);
  let first: R | undefined;
  try {
    first = await read();
  } catch (err) {
    end();
    throw err;
  }
  if (!first) {
    end();
    return undefined;
  }
  return { first, events, local, end };
}
