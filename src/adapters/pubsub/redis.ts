import { randomUUID } from 'node:crypto';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { RedisClient } from '../redis/client.js';
import type { EventBus, Topic, TopicMap } from '../../domain/events.js';
import { Dispatcher } from './dispatcher.js';

/** How long `listen` waits for Redis to acknowledge a subscription before going on without it. */
const LISTEN_WAIT_MS = 2000;

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
  private readonly self = randomUUID();
  private readonly control: Promise<number>;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly prefix = 'fs:',
  ) {
    this.pubsub = new RedisPubSub({ publisher, subscriber });
    // ioredis re-subscribes by itself after a reconnect; whatever was published in
    // between is gone, so tell the caches to re-read the truth. Not at 'ready' itself:
    // the SUBSCRIBE commands are only sent then, and a re-read before Redis has
    // acknowledged them could miss a change published in between. A PING sent behind
    // them answers after they have been (replies come in order).
    let wasReady = subscriber.status === 'ready';
    subscriber.on('ready', () => {
      if (wasReady) subscriber.ping().then(() => this.resync(), () => {}); // failed: the next 'ready' retries
      wasReady = true;
    });
    // A process that could not publish (its publisher reconnecting while the others were
    // already back) asks every process to re-read once it can: see requestResync.
    this.control = this.pubsub.subscribe(`${prefix}control:resync`, (m: { from?: string }) => {
      if (m?.from !== this.self) this.resync();
    });
  }

  private resync() {
    for (const h of [...this.resyncHandlers]) h();
  }

  onResync(handler: () => void): () => void {
    this.resyncHandlers.add(handler);
    return () => this.resyncHandlers.delete(handler);
  }

  /**
   * Tells every other process that events of this one were missed (delivered in this process
   * only), so they re-read the truth as after an outage of their own.
   */
  async requestResync(): Promise<void> {
    await this.control;
    await this.pubsub.publish(`${this.prefix}control:resync`, { from: this.self });
  }

  private channel(topic: Topic) {
    return `${this.prefix}events:${topic}`;
  }

  /** Subscribes this process to a topic once; resolves when Redis has confirmed it. */
  ensure(topic: Topic): Promise<number> {
    let sub = this.subscribed.get(topic);
    if (!sub) {
      const asked = this.pubsub.subscribe(this.channel(topic), (m: Envelope) => this.d.deliver(topic, m.id, m.payload));
      this.subscribed.set(topic, asked);
      // A subscription that failed is asked for again by the next caller, not remembered.
      asked.catch(() => {
        if (this.subscribed.get(topic) === asked) this.subscribed.delete(topic);
      });
      sub = asked;
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
    this.ensure(topic).catch(() => {});
    return this.d.iterate(topic, id, signal);
  }

  /**
   * Calls `handler` with every event of the topic, from every process. Resolves once Redis has
   * acknowledged the subscription, or after LISTEN_WAIT_MS if it has not (Redis unreachable: a
   * process starting during an outage serves meanwhile, its gate on the Postgres fallback); the
   * subscription is then made when Redis is back, and the caches re-read what they missed (resync).
   */
  async listen<T extends Topic>(topic: T, handler: (payload: TopicMap[T]) => void) {
    const off = this.d.onAll(topic, handler as (p: unknown) => void);
    const sub = this.ensure(topic);
    let timer: NodeJS.Timeout | undefined;
    const acknowledged = await Promise.race([sub.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), LISTEN_WAIT_MS)))]);
    clearTimeout(timer);
    if (!acknowledged) sub.then(() => this.resync(), () => {});
    return async () => off();
  }

  async close(): Promise<void> {
    // QUIT waits for a connection that may never come back; an unconnected client just goes.
    if (this.publisher.status === 'ready' && this.subscriber.status === 'ready') await this.pubsub.close();
    else {
      this.publisher.disconnect();
      this.subscriber.disconnect();
    }
  }
}
