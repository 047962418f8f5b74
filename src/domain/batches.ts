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
