import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';
import type { EventBus, Topic, TopicMap } from '../../domain/events.js';
import { Dispatcher } from './dispatcher.js';

interface Envelope {
  id: string;
  payload: unknown;
}

/**
 * Cross-process pub/sub over Redis: one Redis subscription per topic per process,
 * then in-process fan-out to every local subscriber of that id.
 */
export class RedisEventBus implements EventBus {
  private d = new Dispatcher();
  private pubsub: RedisPubSub;
  private subscribed = new Map<Topic, Promise<number>>();
  private resyncHandlers = new Set<() => void>();

  constructor(
    publisher: Redis,
    subscriber: Redis,
    private readonly prefix = 'fs:',
  ) {
    this.pubsub = new RedisPubSub({ publisher, subscriber });
    // ioredis re-subscribes by itself after a reconnect; whatever was published in
    // between is gone, so tell the caches to re-read the truth.
    let wasReady = subscriber.status === 'ready';
    subscriber.on('ready', () => {
      if (wasReady) for (const h of [...this.resyncHandlers]) h();
      wasReady = true;
    });
  }

  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  private channel(topic: Topic) {
    return `${this.prefix}events:${topic}`;
  }

  /** Subscribes this process to a topic once; resolves when Redis has confirmed it. */
  ensure(topic: Topic): Promise<number> {
    let sub = this.subscribed.get(topic);
    if (!sub) {
      sub = this.pubsub.subscribe(this.channel(topic), (m: Envelope) => this.d.deliver(topic, m.id, m.payload));
      this.subscribed.set(topic, sub);
    }
    return sub;
  }

  async publish<T extends Topic>(topic: T, id: string, payload: TopicMap[T]): Promise<void> {
    await this.pubsub.publish(this.channel(topic), { id, payload } satisfies Envelope);
  }

  /** Delivers to this process's subscribers only (Redis unreachable: see pubsub/degrading.ts). */
  deliverLocally<T extends Topic>(topic: T, id: string, payload: TopicMap[T]): void {
    this.d.deliver(topic, id, payload);
  }

  subscribe<T extends Topic>(topic: T, id: string, signal?: AbortSignal): AsyncIterable<TopicMap[T]> {
    void this.ensure(topic);
    return this.d.iterate(topic, id, signal);
  }

  async listen<T extends Topic>(topic: T, handler: (payload: TopicMap[T]) => void) {
    await this.ensure(topic);
    const off = this.d.onAll(topic, handler as (p: unknown) => void);
    return async () => off();
  }

  async close(): Promise<void> {
    await this.pubsub.close();
  }
}
