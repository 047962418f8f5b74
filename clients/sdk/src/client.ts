/**
 * flashsale client for web and React Native: typed queries and mutations over HTTP,
 * live subscriptions over graphql-ws (reconnecting, with a fresh token on every connect),
 * automatic retry of "nothing changed, try again" faults with idempotency keys,
 * and the proof-of-work challenge solved when `reserve` asks for one.
 */
import { type Client as WsClient, createClient as createWsClient } from 'graphql-ws';
import {
  CartDocument,
  BlockNetworksDocument,
  BlockShoppersDocument,
  CheckoutDocument,
  type CheckoutInput,
  type CheckoutMutation,
  CreateProductDocument,
  CancelSaleDocument,
  EndSaleDocument,
  SetStockDocument,
  type CreateProductInput,
  InventoryDocument,
  OrderDetailsDocument,
  OrderDocument,
  OrderStatusChangedDocument,
  type OrderStatusChangedSubscription,
  OrdersDocument,
  PaidOrdersDocument,
  PayDocument,
  type PayInput,
  type PayMutation,
  ProductDocument,
  ProductsDocument,
  ReleaseReservationDocument,
  type ReleaseReservationMutation,
  RescheduleSaleDocument,
  ReservationCountdownDocument,
  type ReservationCountdownSubscription,
  ReservationDocument,
  ReserveDocument,
  type RefundStatus,
  type ReserveInput,
  type ReserveMutation,
  StockChangedDocument,
  RefundOrderDocument,
  ShopperOrdersDocument,
  RefundsDocument,
  RetryRefundDocument,
  UnblockNetworksDocument,
  UnblockShoppersDocument,
  UpdateProductDocument,
  type StockChangedSubscription,
  type TypedDocumentString,
} from './gql/graphql.js';
import { type HexDigest, solveChallenge } from './pow.js';

export type ReserveResult = ReserveMutation['reserve'];
export type ReleaseResult = ReleaseReservationMutation['releaseReservation'];
export type CheckoutResult = CheckoutMutation['checkout'];
export type PayResult = PayMutation['pay'];
export type InventoryUpdate = StockChangedSubscription['stockChanged'];
export type CountdownUpdate = ReservationCountdownSubscription['reservationCountdown'];
export type OrderUpdate = OrderStatusChangedSubscription['orderStatusChanged'];

/** Called before every request and on every WebSocket (re)connect; `forceRefresh` after the server refused the token. */
export type GetToken = (opts: { forceRefresh: boolean }) => string | null | undefined | Promise<string | null | undefined>;

export interface FlashSaleClientOptions {
  /** The GraphQL endpoint, e.g. https://shop.example.com/graphql. */
  url: string;
  /** graphql-ws endpoint; defaults to `url` with ws(s)://. */
  wsUrl?: string;
  getToken?: GetToken;
  fetch?: typeof fetch;
  /** A WebSocket constructor where there is no global one (Node < 22: `import WebSocket from 'ws'`). */
  webSocketImpl?: unknown;
  /** Hex digest for the proof-of-work solver where WebCrypto is missing (React Native). */
  digest?: HexDigest;
  /** How often a "nothing changed, try again" fault is retried (default 3). */
  retries?: number;
  /** Reports the live connection's state (e.g. to show "reconnecting…"). */
  onConnectionChange?: (state: 'connecting' | 'connected' | 'closed') => void;
}

/** A fault that is not a business outcome: a bad request, no token, the server unavailable. */
export class FlashSaleError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable = false,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'FlashSaleError';
  }
}

export interface Subscription {
  unsubscribe(): void;
}

export interface SubscribeHandlers<T> {
  next: (value: T) => void;
  error?: (err: FlashSaleError) => void;
  complete?: () => void;
}

type Doc<R, V> = TypedDocumentString<R, V>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function newIdempotencyKey(): string {
  const c = globalThis.crypto as Crypto | undefined;
  if (c?.randomUUID) return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function toError(errors: { message: string; extensions?: Record<string, unknown> }[]): FlashSaleError {
  const e = errors[0];
  const ext = e.extensions ?? {};
  const code = typeof ext.code === 'string' ? ext.code : 'INTERNAL_SERVER_ERROR';
  const retryable = ext.retryable === true || code === 'UNAVAILABLE';
  const after = typeof ext.retryAfterSeconds === 'number' ? ext.retryAfterSeconds : undefined;
  return new FlashSaleError(e.message, code, retryable, after);
}

export class FlashSaleClient {
  private readonly fetchImpl: typeof fetch;
  private ws?: WsClient;
  private refreshOnConnect = false;

  constructor(private readonly opts: FlashSaleClientOptions) {
    this.fetchImpl = opts.fetch ?? ((...args) => globalThis.fetch(...args));
  }

  private async token(forceRefresh: boolean): Promise<string | undefined> {
    return (await this.opts.getToken?.({ forceRefresh })) ?? undefined;
  }

  /** Runs any typed operation over HTTP; throws FlashSaleError for faults, returns business outcomes as data. */
  async execute<R, V>(document: Doc<R, V>, variables?: V): Promise<R> {
    const retries = this.opts.retries ?? 3;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const token = await this.token(refreshed);
      let res: Response;
      try {
        res = await this.fetchImpl(this.opts.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json, application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ query: document.toString(), variables }),
        });
      } catch (err) {
        if (attempt < retries) {
          await sleep(250 * 2 ** attempt);
          continue;
        }
        throw new FlashSaleError(`The server could not be reached: ${(err as Error).message}`, 'NETWORK', true);
      }
      let body: { data?: R; errors?: { message: string; extensions?: Record<string, unknown> }[] };
      try {
        body = await res.json();
      } catch {
        const err = new FlashSaleError(`The server answered ${res.status} without a GraphQL body`, res.status >= 500 ? 'UNAVAILABLE' : 'BAD_RESPONSE', res.status >= 500);
        if (err.retryable && attempt < retries) {
          await sleep(250 * 2 ** attempt);
          continue;
        }
        throw err;
      }
      if (body.errors?.length) {
        const err = toError(body.errors);
        if (err.code === 'UNAUTHENTICATED' && !refreshed && this.opts.getToken) {
          refreshed = true;
          attempt--;
          continue;
        }
        if (err.retryable && attempt < retries) {
          await sleep(Math.min(5, err.retryAfterSeconds ?? 0.25 * 2 ** attempt) * 1000);
          continue;
        }
        throw err;
      }
      return body.data as R;
    }
  }

  // --- queries ---
  async products() {
    return (await this.execute(ProductsDocument)).products;
  }
  async product(id: string) {
    return (await this.execute(ProductDocument, { id })).product ?? null;
  }
  async inventory(productId: string) {
    return (await this.execute(InventoryDocument, { productId })).inventory ?? null;
  }
  async cart() {
    return (await this.execute(CartDocument)).cart ?? null;
  }
  async reservation(id: string) {
    return (await this.execute(ReservationDocument, { id })).reservation ?? null;
  }
  async order(id: string) {
    return (await this.execute(OrderDocument, { id })).order ?? null;
  }
  async orders() {
    return (await this.execute(OrdersDocument)).orders;
  }
  /** Admin only: one page of paid orders to ship (oldest first, with shipping addresses); audited on the server. */
  async paidOrders(opts: { productId?: string; first?: number; after?: string | null } = {}) {
    return (await this.execute(PaidOrdersDocument, { productId: opts.productId ?? null, first: opts.first ?? 100, after: opts.after ?? null })).paidOrders;
  }
  /** Admin only: every paid order to ship, page after page (`first` per request). */
  async *allPaidOrders(opts: { productId?: string; first?: number } = {}) {
    let after: string | null = null;
    for (;;) {
      const page: Awaited<ReturnType<FlashSaleClient['paidOrders']>> = await this.paidOrders({ ...opts, after });
      yield* page.orders;
      if (!page.hasNextPage || !page.endCursor) return;
      after = page.endCursor;
    }
  }

  // --- mutations ---
  /** Admin only. */
  async createProduct(input: CreateProductInput) {
    return (await this.execute(CreateProductDocument, { input })).createProduct;
  }
  /** Admin only: ends the product's sale now (reserves refused from then on; holds already made stay). */
  async endSale(productId: string) {
    return (await this.execute(EndSaleDocument, { productId })).endSale;
  }
  /**
   * Admin only: calls the sale off: ends it, takes every hold of it back and, with `refundPaidOrders`, refunds
   * and cancels its paid orders. Call again while `paymentsInFlight` > 0 to refund those paid since.
   */
  async cancelSale(productId: string, reason: string, opts: { refundPaidOrders?: boolean } = {}) {
    return (await this.execute(CancelSaleDocument, { productId, reason, refundPaidOrders: opts.refundPaidOrders ?? false })).cancelSale;
  }
  /**
   * Admin only: corrects a product's name, price, currency, per-shopper limit or hold time before its sale opens
   * (fixed from the opening on). Fields left out keep their value. Repeat-safe.
   */
  async updateProduct(productId: string, fix: { name?: string; priceAmount?: number; currency?: string; perUserLimit?: number; reservationTtlSeconds?: number }) {
    return (await this.execute(UpdateProductDocument, { productId, input: fix })).updateProduct;
  }
  /**
   * Admin only: moves the product's sale window to `startsAt` .. `endsAt` (null: no end). A sale not yet open
   * may start at any time; an open one keeps its start and may be extended; one that is over stays over. Repeat-safe.
   */
  async rescheduleSale(productId: string, startsAt: Date | string, endsAt: Date | string | null = null) {
    const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : d);
    return (await this.execute(RescheduleSaleDocument, { productId, startsAt: iso(startsAt), endsAt: endsAt === null ? null : iso(endsAt) })).rescheduleSale;
  }
  /** Admin only: blocks shoppers from reserving (bots); their holds are taken back at once. Repeat-safe. */
  async blockShoppers(userIds: string[], reason: string) {
    return (await this.execute(BlockShoppersDocument, { userIds, reason })).blockShoppers;
  }
  /** Admin only: lets blocked shoppers reserve again. */
  async unblockShoppers(userIds: string[]) {
    return (await this.execute(UnblockShoppersDocument, { userIds })).unblockShoppers;
  }
  /** Admin only: refuses every reserve from these networks (addresses or CIDR ranges such as 203.0.113.0/24), whoever the shopper. Repeat-safe. */
  async blockNetworks(networks: string[], reason: string) {
    return (await this.execute(BlockNetworksDocument, { networks, reason })).blockNetworks;
  }
  /** Admin only: lets reserves from these networks through again. */
  async unblockNetworks(networks: string[]) {
    return (await this.execute(UnblockNetworksDocument, { networks })).unblockNetworks;
  }
  /** Admin only: refunds a paid order in full and cancels it (the shopper is told); a repeat answers the same refund. */
  async refundOrder(orderId: string, reason: string) {
    return (await this.execute(RefundOrderDocument, { orderId, reason })).refundOrder;
  }
  /** Admin only: any shopper's order with its address, payment attempts and refunds (audited on the server). */
  async orderDetails(id: string) {
    return (await this.execute(OrderDetailsDocument, { id })).orderDetails;
  }
  /** Admin only: one shopper's orders, newest first, in details (audited on the server). */
  async shopperOrders(userId: string, opts: { first?: number } = {}) {
    return (await this.execute(ShopperOrdersDocument, { userId, first: opts.first ?? 20 })).shopperOrders;
  }
  /** Admin only: one page of refunds in id order (`status: 'FAILED'`: those a gateway kept refusing). */
  async refunds(opts: { status?: RefundStatus; first?: number; after?: string | null } = {}) {
    return (await this.execute(RefundsDocument, { status: opts.status ?? null, first: opts.first ?? 100, after: opts.after ?? null })).refunds;
  }
  /** Admin only: tries a FAILED refund again, at once, under the same key (never paid back twice). */
  async retryRefund(id: string) {
    return (await this.execute(RetryRefundDocument, { id })).retryRefund;
  }
  /** Admin only: sets the product's total units (a restock or a withdrawal; never below what is held or sold). Repeat-safe. */
  async setStock(productId: string, totalQuantity: number) {
    return (await this.execute(SetStockDocument, { productId, totalQuantity })).setStock;
  }

  /**
   * Holds stock. Sends an idempotency key (so a retried request never reserves twice) and,
   * when the server answers CaptchaRequired, solves the challenge and asks again.
   */
  async reserve(input: ReserveInput, opts: { maxChallenges?: number; signal?: AbortSignal } = {}): Promise<ReserveResult> {
    let current: ReserveInput = { ...input, idempotencyKey: input.idempotencyKey ?? newIdempotencyKey() };
    for (let round = 0; ; round++) {
      const { reserve } = await this.execute(ReserveDocument, { input: current });
      if (reserve.__typename !== 'CaptchaRequired' || round >= (opts.maxChallenges ?? 2)) return reserve;
      const captcha = await solveChallenge(reserve.challenge, { digest: this.opts.digest, signal: opts.signal });
      // Nothing was reserved: a fresh key, so the refused attempt is not replayed.
      current = { ...current, captcha, idempotencyKey: newIdempotencyKey() };
    }
  }

  async releaseReservation(id: string): Promise<ReleaseResult> {
    return (await this.execute(ReleaseReservationDocument, { id })).releaseReservation;
  }

  async checkout(input: CheckoutInput): Promise<CheckoutResult> {
    return (await this.execute(CheckoutDocument, { input: { ...input, idempotencyKey: input.idempotencyKey ?? newIdempotencyKey() } })).checkout;
  }

  async pay(input: PayInput): Promise<PayResult> {
    return (await this.execute(PayDocument, { input: { ...input, idempotencyKey: input.idempotencyKey ?? newIdempotencyKey() } })).pay;
  }

  // --- live ---
  private socket(): WsClient {
    if (this.ws) return this.ws;
    const wsUrl = this.opts.wsUrl ?? this.opts.url.replace(/^http/, 'ws');
    this.ws = createWsClient({
      url: wsUrl,
      webSocketImpl: this.opts.webSocketImpl,
      lazy: true,
      lazyCloseTimeout: 1000,
      keepAlive: 15_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: async (retries) => {
        await sleep(Math.min(10_000, 500 * 2 ** Math.min(retries, 5)) * (0.5 + Math.random() / 2));
      },
      connectionParams: async () => {
        const forceRefresh = this.refreshOnConnect;
        this.refreshOnConnect = false;
        const token = await this.token(forceRefresh);
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      on: {
        connecting: () => this.opts.onConnectionChange?.('connecting'),
        connected: () => this.opts.onConnectionChange?.('connected'),
        closed: () => this.opts.onConnectionChange?.('closed'),
      },
    });
    return this.ws;
  }

  /** Subscribes to any typed subscription; re-subscribes after reconnects; one token refresh on UNAUTHENTICATED. */
  subscribe<R, V>(document: Doc<R, V>, variables: V, handlers: SubscribeHandlers<R>): Subscription {
    let stop: (() => void) | undefined;
    let done = false;
    let refreshed = false;
    const start = () => {
      stop = this.socket().subscribe<R>(
        { query: document.toString(), variables: variables as Record<string, unknown> },
        {
          next: (msg) => {
            if (msg.errors?.length) {
              const err = toError(msg.errors as never);
              if (err.code === 'UNAUTHENTICATED' && !refreshed && this.opts.getToken) {
                refreshed = true;
                stop?.();
                this.reconnectWithFreshToken();
                start();
                return;
              }
              done = true;
              handlers.error?.(err);
              return;
            }
            if (msg.data) handlers.next(msg.data);
          },
          error: (err) => {
            if (done) return;
            done = true;
            const e = Array.isArray(err)
              ? toError(err as never)
              : new FlashSaleError(err instanceof Error ? err.message : 'The live connection closed', 'SUBSCRIPTION_CLOSED', true);
            if (e.code === 'UNAUTHENTICATED' && !refreshed && this.opts.getToken) {
              refreshed = true;
              done = false;
              this.reconnectWithFreshToken();
              start();
              return;
            }
            handlers.error?.(e);
          },
          complete: () => {
            if (done) return;
            done = true;
            handlers.complete?.();
          },
        },
      );
    };
    start();
    return {
      unsubscribe: () => {
        done = true;
        stop?.();
      },
    };
  }

  /** The product's inventory now and after every change. */
  onStockChanged(productId: string, next: (inv: InventoryUpdate) => void, error?: (e: FlashSaleError) => void): Subscription {
    return this.subscribe(StockChangedDocument, { productId }, { next: (d) => next(d.stockChanged), error });
  }

  /** The hold's seconds left, every second, then its final state. */
  onReservationCountdown(reservationId: string, next: (c: CountdownUpdate) => void, error?: (e: FlashSaleError) => void, complete?: () => void): Subscription {
    return this.subscribe(ReservationCountdownDocument, { reservationId }, { next: (d) => next(d.reservationCountdown), error, complete });
  }

  /** The order now and after every change of status. */
  onOrderStatusChanged(orderId: string, next: (o: OrderUpdate) => void, error?: (e: FlashSaleError) => void): Subscription {
    return this.subscribe(OrderStatusChangedDocument, { orderId }, { next: (d) => next(d.orderStatusChanged), error });
  }

  /** Closes the connection with a new token asked for on the next connect (sign-in changed). */
  reconnectWithFreshToken(): void {
    this.refreshOnConnect = true;
    this.ws?.terminate();
  }

  async close(): Promise<void> {
    await this.ws?.dispose();
    this.ws = undefined;
  }
}

export function createFlashSaleClient(opts: FlashSaleClientOptions): FlashSaleClient {
  return new FlashSaleClient(opts);
}
