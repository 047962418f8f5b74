import type { EventBus, Topic, TopicMap } from '../../domain/events.js';
import { Dispatcher } from './dispatcher.js';

/** In-process pub/sub of the embedded default. */
export class MemoryEventBus implements EventBus {
  private d = new Dispatcher();

  async publish<T extends Topic>(topic: T, id: string, payload: TopicMap[T]): Promise<void> {
    this.d.deliver(topic, id, payload);
  }

  subscribe<T extends Topic>(topic: T, id: string, signal?: AbortSignal): AsyncIterable<TopicMap[T]> {
    return this.d.iterate(topic, id, signal);
  }

  async listen<T extends Topic>(topic: T, handler: (payload: TopicMap[T]) => void) {
    const off = this.d.onAll(topic, handler as (p: unknown) => void);
    return async () => off();
  }

  async close(): Promise<void> {}
}
