import type { RedisClient } from '../redis/client.js';
import type { EventBus, Topic, TopicMap } from '../../domain/events.js';
import type { RedisEventBus } from './redis.js';

/**
 * The Redis event bus that degrades to in-process delivery while Redis is unreachable:
 * this process's subscribers still see this process's changes at once (instead of every
 * publish waiting on a dead connection), and cross-process delivery resumes when the
 * connection does (ioredis resubscribes by itself). Counts what it delivered locally.
 *
 * The other processes never saw what was delivered locally, and they may have resynced
 * already (their connections can come back before this one's publisher does). So once
 * this publisher is back, it asks them all to re-read, and keeps asking until Redis took it.
 */
export class DegradingEventBus implements EventBus {
  localOnly = 0;
  /** Local-only deliveries that no resync request has covered yet. */
  private owed = 0;
  private retry?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly bus: RedisEventBus,
    private readonly publisher: RedisClient,
  ) {}

  get degraded(): boolean {
    return this.publisher.status !== 'ready';
  }

  async publish<T extends Topic>(topic: T, id: string, payload: TopicMap[T]): Promise<void> {
    if (!this.degraded) {
      try {
        await this.bus.publish(topic, id, payload);
        return;
      } catch {
        // fall through: deliver in this process at least
      }
    }
    this.localOnly++;
    this.bus.deliverLocally(topic, id, payload);
    if (this.owed++ === 0) this.settle();
  }

  private settle = (): void => {
    this.retry = undefined;
    if (this.closed || this.owed === 0) return;
    if (this.degraded) {
      this.retry = setTimeout(this.settle, 250).unref();
      return;
    }
    const covered = this.owed;
    this.bus.requestResync().then(
      () => {
        // Deliveries made while the request was on its way are after it: ask again for them.
        this.owed -= covered;
        if (this.owed > 0) this.settle();
      },
      () => {
        if (!this.closed) this.retry = setTimeout(this.settle, 1000).unref();
      },
    );
  };

  subscribe<T extends Topic>(topic: T, id: string, signal?: AbortSignal): AsyncIterable<TopicMap[T]> {
    return this.bus.subscribe(topic, id, signal);
  }

  listen<T extends Topic>(topic: T, handler: (payload: TopicMap[T]) => void): Promise<() => Promise<void>> {
    return this.bus.listen(topic, handler);
  }

  /** Missed events while Redis was away: the wrapped bus tells when it has resubscribed. */
  onResync(handler: () => void): () => void {
    return this.bus.onResync?.(handler) ?? (() => {});
  }

  close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    return this.bus.close();
  }
}
