/** The items by key, each key's in the order given (Node 20 has no Map.groupBy). */
export function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = out.get(key);
    if (group) group.push(item);
    else out.set(key, [item]);
  }
  return out;
}

/**
 * Queues per key for group commit (reservations per product, payment settlements): the first
 * item of a key starts a batch when the event loop's current turn ends (so the items of the same
 * turn, e.g. answers of one pipelined Redis reply, share it); items that arrive while a batch of
 * that key is in flight wait and go together in the next one, at most `max` at a time. One batch
 * per key is in flight at once. `run` answers every item of its batch and never throws.
 */
export class KeyedBatches<T> {
  private queues = new Map<string, T[]>();

  constructor(
    private readonly max: number,
    private readonly run: (key: string, batch: T[]) => Promise<void>,
  ) {}

  add(key: string, item: T): void {
    const q = this.queues.get(key);
    if (q) {
      q.push(item);
      return;
    }
    this.queues.set(key, [item]);
    setImmediate(() => void this.drain(key));
  }

  private async drain(key: string): Promise<void> {
    const q = this.queues.get(key)!;
    while (q.length) await this.run(key, q.splice(0, this.max));
    this.queues.delete(key);
  }
}

/**
 * Items gathered per key during one turn of the event loop and handed to `send` when the turn
 * ends (setImmediate), in arrival order, at most `max` per call. Unlike KeyedBatches nothing waits
 * for an earlier call: each turn's items go out at once (the Redis gate's admits and key lookups,
 * the rate limiter's checks: one command per call, its items decided in order). `send` answers
 * every item it is given and never throws.
 */
export class TurnBatches<T> {
  private queues = new Map<string, T[]>();

  constructor(
    private readonly max: number,
    private readonly send: (key: string, items: T[]) => void,
  ) {}

  add(key: string, item: T): void {
    const q = this.queues.get(key);
    if (q) {
      q.push(item);
      return;
    }
    if (!this.queues.size) setImmediate(() => this.flush());
    this.queues.set(key, [item]);
  }

  private flush(): void {
    const all = this.queues;
    this.queues = new Map();
    for (const [key, q] of all) {
      for (let i = 0; i < q.length; i += this.max) this.send(key, q.length <= this.max ? q : q.slice(i, i + this.max));
    }
  }
}
