/**
 * One typed map of every pub/sub topic and its payload. Events are published only
 * after the transaction that caused them commits.
 */
export interface InventorySnapshot {
  productId: string;
  totalQuantity: number;
  availableQuantity: number;
  reservedQuantity: number;
  soldQuantity: number;
  /** Monotonic per product: a cache keeps the snapshot with the highest version. */
  version: number;
  updatedAt: string;
  /**
   * The sale window (ISO; `endsAt` null when open-ended), so every process's catalogue and every
   * stock ticker (`Inventory.saleStartsAt` / `saleEndsAt`) follow an operator who ends or
   * reschedules a sale. Absent from events of processes older than `endSale`.
   */
  startsAt?: string;
  endsAt?: string | null;
  /**
   * The catalogue fields answers show, so every process's catalogue follows an operator who corrects
   * them before the sale opens (`updateProduct`). Absent from events of processes older than it.
   */
  name?: string;
  priceAmount?: number;
  currency?: string;
  perUserLimit?: number;
  reservationTtlSeconds?: number;
}

export interface ReservationEvent {
  reservationId: string;
  userId: string;
  productId: string;
  status: 'ACTIVE' | 'CHECKED_OUT' | 'PURCHASED' | 'EXPIRED' | 'RELEASED';
}

export interface OrderEvent {
  orderId: string;
  userId: string;
  status: 'PENDING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
}

/** Shoppers an operator blocked or unblocked (every api process's block list takes it at once). */
export interface BlocksEvent {
  userIds: string[];
  /** Networks (as stored: `203.0.113.0/24`) blocked or unblocked; absent in a shoppers' event. */
  networks?: string[];
  blocked: boolean;
}

export interface TopicMap {
  /** Every stock change of every product (caches, sold-out flags). */
  stock: InventorySnapshot;
  reservation: ReservationEvent;
  order: OrderEvent;
  blocks: BlocksEvent;
}

export type Topic = keyof TopicMap;

export interface EventBus {
  /** Publishes to the topic's global channel and to its per-id channel. */
  publish<T extends Topic>(topic: T, id: string, payload: TopicMap[T]): Promise<void>;
  /** Events of one topic for one id (one product, reservation or order). */
  subscribe<T extends Topic>(topic: T, id: string, signal?: AbortSignal): AsyncIterable<TopicMap[T]>;
  /** Every event of one topic, for process-wide caches. Returns an unsubscribe function. */
  listen<T extends Topic>(topic: T, handler: (payload: TopicMap[T]) => void): Promise<() => Promise<void>>;
  /**
   * Calls `handler` whenever the bus reconnected after an outage, during which events
   * may have been missed (caches re-read the truth then). In-process buses never miss.
   */
  onResync?(handler: () => void): () => void;
  close(): Promise<void>;
}
