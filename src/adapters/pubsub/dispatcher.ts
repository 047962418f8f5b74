import type { Topic, TopicMap } from '../../domain/events.js';

type Handler = (payload: unknown) => void;

/**
 * Fans events out inside one process: one upstream subscription per topic, any number
 * of local listeners per id. Both event buses (in-process and Redis) end here.
 */
export class Dispatcher {
  private byId = new Map<string, Set<Handler>>();
  private global = new Map<Topic, Set<Handler>>();

  deliver(topic: Topic, id: string, payload: unknown): void {
    for (const h of this.global.get(topic) ?? []) h(payload);
    for (const h of this.byId.get(`${topic}\u0000${id}`) ?? []) h(payload);
  }

  onAll(topic: Topic, handler: Handler): () => void {
    let set = this.global.get(topic);
    if (!set) this.global.set(topic, (set = new Set()));
    set.add(handler);
    return () => set!.delete(handler);
  }

  onId(topic: Topic, id: string, handler: Handler): () => void {
    const key = `${topic}\u0000${id}`;
    let set = this.byId.get(key);
    if (!set) this.byId.set(key, (set = new Set()));
    set.add(handler);
    return () => {
      set!.delete(handler);
      if (set!.size === 0) this.byId.delete(key);
    };
  }

  /** An async iterable of one id's events; ends when `signal` aborts or the consumer returns. */
  iterate<T extends Topic>(topic: T, id: string, signal?: AbortSignal): AsyncIterable<TopicMap[T]> {
    const dispatcher = this;
    return {
      [Symbol.asyncIterator]() {
        const queue: TopicMap[T][] = [];
        let wake: (() => void) | undefined;
        let done = false;
        const off = dispatcher.onId(topic, id, (p) => {
          queue.push(p as TopicMap[T]);
          wake?.();
        });
        const finish = () => {
          done = true;
          off();
          wake?.();
        };
        signal?.addEventListener('abort', finish, { once: true });
        return {
          async next(): Promise<IteratorResult<TopicMap[T]>> {
            while (!done) {
              if (queue.length) return { value: queue.shift()!, done: false };
              await new Promise<void>((r) => (wake = r));
              wake = undefined;
            }
            return { value: undefined, done: true };
          },
          async return(): Promise<IteratorResult<TopicMap[T]>> {
            finish();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }
}
