import type { GraphQLResolveInfo } from 'graphql';
import type { Deps } from '../domain/context.js';
import { catalogue, cataloguedProduct, getProducts } from '../domain/inventory/products.js';
import type { ProductRow } from '../adapters/db/schema/tables.js';

/**
 * Keys asked for within one tick, read together: GraphQL resolves a field for every element of a
 * list before the next microtask, so a list of 100 orders asks for its refunds in one query, not
 * 100. `load` answers by key (a key it leaves out gets `none()`); `known` answers a key without a
 * query (a process cache), at once. Each key is read once per loader: make one per request.
 */
export function batchLoader<V>(load: (keys: string[]) => Promise<Map<string, V>>, none: () => V, known?: (key: string) => V | undefined): (key: string) => Promise<V> {
  const cache = new Map<string, Promise<V>>();
  let batch: { keys: Set<string>; done: Promise<Map<string, V>> } | undefined;
  return (key) => {
    let hit = cache.get(key);
    if (hit) return hit;
    const k = known?.(key);
    if (k !== undefined) {
      hit = Promise.resolve(k);
    } else {
      if (!batch) {
        const keys = new Set<string>();
        const done = new Promise<Map<string, V>>((resolve, reject) =>
          queueMicrotask(() => {
            batch = undefined;
            load([...keys]).then(resolve, reject);
          }),
        );
        batch = { keys, done };
      }
      batch.keys.add(key);
      hit = batch.done.then((m) => (m.has(key) ? m.get(key)! : none()));
    }
    cache.set(key, hit);
    return hit;
  };
}

/** A request's products: known ones from the process's catalogue (products.ts), the rest in one query a tick. */
export function productLoader(deps: Deps): (id: string) => Promise<ProductRow | undefined> {
  return batchLoader<ProductRow | undefined>(
    async (ids) => {
      const rows = await getProducts(deps.db, ids);
      catalogue(deps, rows);
      return new Map(rows.map((r) => [r.id, r]));
    },
    () => undefined,
    (id) => cataloguedProduct(deps, id),
  );
}

const loaders = new WeakMap<object, Map<string, unknown>>();

/**
 * The loader called `name` of one request (its context), made on first use: requests that never need
 * it pay nothing. A subscription keeps one context for all its events, so there each event (its root
 * value, what the stream yielded) has loaders of its own: an order's refunds read at its first event
 * are not its refunds at the next.
 */
export function loaderOf<V>(ctx: object, name: string, make: () => (key: string) => Promise<V>, info?: GraphQLResolveInfo): (key: string) => Promise<V> {
  const scope = info?.operation.operation === 'subscription' && typeof info.rootValue === 'object' && info.rootValue !== null ? (info.rootValue as object) : ctx;
  let m = loaders.get(scope);
  if (!m) loaders.set(scope, (m = new Map()));
  let l = m.get(name) as ((key: string) => Promise<V>) | undefined;
  if (!l) m.set(name, (l = make()));
  return l;
}
