/* eslint-disable */
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
export type MakeOptional<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]?: Maybe<T[SubKey]> };
export type MakeMaybe<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]: Maybe<T[SubKey]> };
export type MakeEmpty<T extends { [key: string]: unknown }, K extends keyof T> = { [_ in K]?: never };
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** An ISO 8601 date-time in UTC, e.g. 2026-11-25T12:00:00.000Z */
  DateTime: { input: string; output: string; }
};

export type AddressInput = {
  addressLine1: Scalars['String']['input'];
  addressLine2?: InputMaybe<Scalars['String']['input']>;
  city: Scalars['String']['input'];
  country: Scalars['String']['input'];
  postalCode: Scalars['String']['input'];
};

export type AlreadyPaid = Error & {
  __typename?: 'AlreadyPaid';
  code: ErrorCode;
  message: Scalars['String']['output'];
  order: Order;
};

export type AmountMismatch = Error & {
  __typename?: 'AmountMismatch';
  code: ErrorCode;
  expected: Money;
  message: Scalars['String']['output'];
};

export type BlockNetworksResult = {
  __typename?: 'BlockNetworksResult';
  /** Networks newly blocked (one already blocked keeps its first reason). */
  blocked: Scalars['Int']['output'];
};

export type BlockShoppersResult = {
  __typename?: 'BlockShoppersResult';
  /** Shoppers newly blocked (one already blocked keeps its first reason). */
  blocked: Scalars['Int']['output'];
  /** Their holds taken back: the units are on sale again, their unpaid orders cancelled. */
  holdsRevoked: Scalars['Int']['output'];
};

/** A network (an address or a CIDR range) an operator blocked from reserving. */
export type BlockedNetwork = {
  __typename?: 'BlockedNetwork';
  blockedAt: Scalars['DateTime']['output'];
  blockedBy: Scalars['String']['output'];
  /** As stored: a range as its network with its prefix (203.0.113.0/24), an address with /32 or /128. */
  network: Scalars['String']['output'];
  reason: Scalars['String']['output'];
};

/** A shopper an operator blocked from reserving. */
export type BlockedShopper = {
  __typename?: 'BlockedShopper';
  blockedAt: Scalars['DateTime']['output'];
  blockedBy: Scalars['String']['output'];
  reason: Scalars['String']['output'];
  userId: Scalars['ID']['output'];
};

export type CancelSaleResult = {
  __typename?: 'CancelSaleResult';
  /** Holds taken back: the units are returned, their unpaid orders cancelled. */
  holdsRevoked: Scalars['Int']['output'];
  /** Paid orders refunded and cancelled by this call (refundPaidOrders). */
  ordersRefunded: Scalars['Int']['output'];
  /** Orders with the product whose payment is still in flight, left to settle: call again to refund those that complete. */
  paymentsInFlight: Scalars['Int']['output'];
  product: Product;
};

export type CaptchaRequired = Error & {
  __typename?: 'CaptchaRequired';
  /** A fresh challenge the client must solve and send back. */
  challenge: Scalars['String']['output'];
  code: ErrorCode;
  message: Scalars['String']['output'];
};

export type Cart = {
  __typename?: 'Cart';
  expiresAt?: Maybe<Scalars['DateTime']['output']>;
  id: Scalars['ID']['output'];
  reservations: Array<Reservation>;
};

export type CartEmpty = Error & {
  __typename?: 'CartEmpty';
  code: ErrorCode;
  message: Scalars['String']['output'];
};

export type CheckoutInput = {
  cartId: Scalars['ID']['input'];
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  paymentMethod: Scalars['String']['input'];
  shippingAddress: AddressInput;
};

export type CheckoutResult = CartEmpty | CheckoutSuccess | InvalidInput | NotFound | RateLimited | ReservationExpired;

export type CheckoutSuccess = {
  __typename?: 'CheckoutSuccess';
  order: Order;
};

/** The signed-in shopper's contact details (stored encrypted) and accepted channels. */
export type Contact = {
  __typename?: 'Contact';
  channels: Array<NotificationChannel>;
  email?: Maybe<Scalars['String']['output']>;
  /** E.164, e.g. +14155550123. */
  phone?: Maybe<Scalars['String']['output']>;
};

export type ContactSuccess = {
  __typename?: 'ContactSuccess';
  contact: Contact;
};

export type CreateProductInput = {
  currency?: Scalars['String']['input'];
  id?: InputMaybe<Scalars['ID']['input']>;
  name: Scalars['String']['input'];
  priceAmount: Scalars['Int']['input'];
  sale: SaleInput;
  totalQuantity: Scalars['Int']['input'];
};

export type DeliveryStatus =
  | 'FAILED'
  | 'SENDING'
  | 'SENT';

/** Personal data removed; orders kept for accounting under the pseudonym. */
export type EraseSuccess = {
  __typename?: 'EraseSuccess';
  erasedAt: Scalars['DateTime']['output'];
  /** The id your kept records carry now; it cannot be traced back to you. */
  pseudonym: Scalars['String']['output'];
  recordsPseudonymised: Scalars['Int']['output'];
};

/** An expected business outcome. Switch on __typename. */
export type Error = {
  code: ErrorCode;
  message: Scalars['String']['output'];
};

export type ErrorCode =
  | 'ALREADY_PAID'
  | 'AMOUNT_MISMATCH'
  | 'CAPTCHA_REQUIRED'
  | 'CART_EMPTY'
  | 'FORBIDDEN'
  | 'INVALID_INPUT'
  | 'LIMIT_EXCEEDED'
  | 'NOT_FOUND'
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'RESERVATION_EXPIRED'
  | 'SALE_ENDED'
  | 'SALE_NOT_STARTED'
  | 'SOLD_OUT'
  | 'UNAUTHENTICATED';

export type FollowResult = FollowSuccess | InvalidInput | NotFound;

export type FollowSuccess = {
  __typename?: 'FollowSuccess';
  /** Whether you are now told when its sale starts and when it sells out. */
  following: Scalars['Boolean']['output'];
  product: Product;
};

export type InvalidInput = Error & {
  __typename?: 'InvalidInput';
  code: ErrorCode;
  field?: Maybe<Scalars['String']['output']>;
  message: Scalars['String']['output'];
};

export type Inventory = {
  __typename?: 'Inventory';
  availableQuantity: Scalars['Int']['output'];
  productId: Scalars['ID']['output'];
  reservedQuantity: Scalars['Int']['output'];
  /** The sale's end, null when it has none (as Product.sale.endsAt), so a live ticker follows an operator who ends or reschedules the sale. */
  saleEndsAt?: Maybe<Scalars['DateTime']['output']>;
  /** The sale's start (as Product.sale.startsAt), so a live ticker follows an operator who reschedules the sale. */
  saleStartsAt: Scalars['DateTime']['output'];
  soldOut: Scalars['Boolean']['output'];
  soldQuantity: Scalars['Int']['output'];
  totalQuantity: Scalars['Int']['output'];
  updatedAt: Scalars['DateTime']['output'];
};

export type InventoryStatus =
  | 'CONFIRMED'
  | 'FAILED';

export type LimitExceeded = Error & {
  __typename?: 'LimitExceeded';
  code: ErrorCode;
  limit: Scalars['Int']['output'];
  message: Scalars['String']['output'];
};

export type Money = {
  __typename?: 'Money';
  /** In minor units (cents). */
  amount: Scalars['Int']['output'];
  currency: Scalars['String']['output'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /** Admin only: refuse every reserve from these networks (bots that rotate accounts, not addresses), at most 1000 per call: each an IPv4 or IPv6 address or a CIDR range (203.0.113.0/24; at most an IPv4 /8 or an IPv6 /16). A reserve from a client address inside one (the socket's, or with TRUST_PROXY the proxy's X-Forwarded-For) is refused with FORBIDDEN, whoever the shopper, in every api process within seconds. Holds carry no address, so none is taken back (blockShoppers does that for accounts). Audited; a repeat changes nothing. */
  blockNetworks: BlockNetworksResult;
  /** Admin only: block shoppers (bots, abuse) from reserving, at most 1000 per call. Their holds are taken back at once (units on sale again, unpaid orders cancelled; an order whose payment is in flight is left to settle) and their later reserves are refused with FORBIDDEN, in every api process within seconds. Audited; a repeat changes nothing. */
  blockShoppers: BlockShoppersResult;
  /** Admin only: call the product's sale off (a pricing mistake, a recall). The sale ends now (as endSale); every hold of the product, and every other hold of an order that holds it, is taken back (units returned, unpaid orders cancelled, shoppers told); with refundPaidOrders every paid order with the product is refunded in full and cancelled, its shopper told. An order whose payment is in flight is left to settle (paymentsInFlight): a repeat refunds those paid since and changes nothing else. Audited. */
  cancelSale: CancelSaleResult;
  /** Turn the cart's active reservations into a pending order. */
  checkout: CheckoutResult;
  /** Admin only: create a product with its stock and sale window. */
  createProduct: Product;
  /** Admin only: end the product's sale now (a pricing mistake, a recall); a sale not yet open ends too. Reserves are refused from then on (SaleNotOpen, SALE_ENDED); holds already made keep their time and may still be checked out, orders may still be paid (cancelSale takes them back too). A sale already over is returned as it is. */
  endSale: Product;
  /** GDPR: erase the signed-in shopper's personal data. Orders are kept for accounting, pseudonymised. */
  eraseMyData: EraseSuccess;
  /** Notify me when the sale of this product starts and when it sells out. */
  followProduct: FollowResult;
  /** Charge the order; on success the stock is sold for good. */
  pay: PayResult;
  /** Admin only: refund a paid (COMPLETED) order in full and cancel it (a return, a pricing mistake, fraud found later). The order leaves paidOrders and the revenue, the refund is made at once through the gateway that took the money (retried with backoff when it fails) and the shopper is told. Its units stay sold: raise the stock with setStock to sell them again. Audited; a repeat answers the first refund and changes nothing; an order not paid is INVALID_INPUT. */
  refundOrder: RefundOrderResult;
  /** Give a held reservation back to the pool before it expires. */
  releaseReservation: ReleaseResult;
  /** Admin only: put a dead letter back in the queue with a fresh budget of attempts. */
  replayDeadLetter: ReplayResult;
  /** Admin only: move the product's sale window; `startsAt` and `endsAt` are the whole new window (`endsAt` null: no end), so a repeat changes nothing. A sale not yet open may start at any time (a start already past opens it now); an open sale keeps its start and may be extended or given an end in the future (endSale ends it now); a sale that is over is not reopened (INVALID_INPUT). Every process and every stockChanged subscriber learns the new window at once. */
  rescheduleSale: Product;
  /** Hold stock for the signed-in shopper for the sale's reservation time and put it in their cart. */
  reserve: ReserveResult;
  /** Admin only: try a FAILED refund again (once what the gateway refused is fixed): PENDING again with a fresh count of attempts, made at once under the same idempotency key, so the money is never given back twice. A PENDING or SUCCEEDED refund is answered as it is. Audited. */
  retryRefund: RefundRecord;
  /** Admin only: set the product's total units (more stock arrived, or some is withdrawn). The difference goes on sale (or off it) at once, on every process; the total cannot go below the units already held or sold (INVALID_INPUT). The same total again changes nothing, so a repeat is safe. */
  setStock: Product;
  /** Admin only: let reserves from these networks through again (each named as it was blocked, or as listed). */
  unblockNetworks: UnblockNetworksResult;
  /** Admin only: let blocked shoppers reserve again (their revoked holds are not given back). */
  unblockShoppers: UnblockShoppersResult;
  unfollowProduct: FollowResult;
  /** Set your email, phone (E.164) and the channels you accept for order, hold and sale notices. */
  updateContact: UpdateContactResult;
  /** Admin only: correct a product's name, price, currency, per-shopper limit or hold time before its sale opens (a typo found in time: nobody holds a unit yet). From the opening on the product is fixed (INVALID_INPUT; cancelSale calls a mispriced sale off). Every process and the gate take the correction at once; checkouts always charge the price Postgres holds. The same values again change nothing, so a repeat is safe. Audited. */
  updateProduct: Product;
};


export type MutationBlockNetworksArgs = {
  networks: Array<Scalars['String']['input']>;
  reason: Scalars['String']['input'];
};


export type MutationBlockShoppersArgs = {
  reason: Scalars['String']['input'];
  userIds: Array<Scalars['ID']['input']>;
};


export type MutationCancelSaleArgs = {
  productId: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
  refundPaidOrders?: Scalars['Boolean']['input'];
};


export type MutationCheckoutArgs = {
  input: CheckoutInput;
};


export type MutationCreateProductArgs = {
  input: CreateProductInput;
};


export type MutationEndSaleArgs = {
  productId: Scalars['ID']['input'];
};


export type MutationFollowProductArgs = {
  productId: Scalars['ID']['input'];
};


export type MutationPayArgs = {
  input: PayInput;
};


export type MutationRefundOrderArgs = {
  orderId: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
};


export type MutationReleaseReservationArgs = {
  id: Scalars['ID']['input'];
};


export type MutationReplayDeadLetterArgs = {
  id: Scalars['ID']['input'];
};


export type MutationRescheduleSaleArgs = {
  endsAt?: InputMaybe<Scalars['DateTime']['input']>;
  productId: Scalars['ID']['input'];
  startsAt: Scalars['DateTime']['input'];
};


export type MutationReserveArgs = {
  input: ReserveInput;
};


export type MutationRetryRefundArgs = {
  id: Scalars['ID']['input'];
};


export type MutationSetStockArgs = {
  productId: Scalars['ID']['input'];
  totalQuantity: Scalars['Int']['input'];
};


export type MutationUnblockNetworksArgs = {
  networks: Array<Scalars['String']['input']>;
};


export type MutationUnblockShoppersArgs = {
  userIds: Array<Scalars['ID']['input']>;
};


export type MutationUnfollowProductArgs = {
  productId: Scalars['ID']['input'];
};


export type MutationUpdateContactArgs = {
  input: UpdateContactInput;
};


export type MutationUpdateProductArgs = {
  input: UpdateProductInput;
  productId: Scalars['ID']['input'];
};

export type NotFound = Error & {
  __typename?: 'NotFound';
  code: ErrorCode;
  message: Scalars['String']['output'];
};

/** How a shopper accepts to be told about their orders, holds and followed sales. */
export type NotificationChannel =
  | 'EMAIL'
  | 'SMS';

/** One message of an outbox event on one channel to one shopper. */
export type NotificationDelivery = {
  __typename?: 'NotificationDelivery';
  attempts: Scalars['Int']['output'];
  channel: NotificationChannel;
  lastError?: Maybe<Scalars['String']['output']>;
  /** Stable across retries: the email Message-ID, the SMS reference. */
  messageKey: Scalars['String']['output'];
  providerId?: Maybe<Scalars['String']['output']>;
  status: DeliveryStatus;
  transport?: Maybe<Scalars['String']['output']>;
  userId: Scalars['String']['output'];
};

export type Order = {
  __typename?: 'Order';
  cartId: Scalars['ID']['output'];
  createdAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  inventoryStatus: InventoryStatus;
  items: Array<OrderItem>;
  paymentStatus: PaymentStatus;
  /** Money given back for this order, oldest first (an order an operator refunded is CANCELLED). */
  refunds: Array<Refund>;
  status: OrderStatus;
  total: Money;
  transactionId?: Maybe<Scalars['String']['output']>;
  updatedAt: Scalars['DateTime']['output'];
};

/** One order as customer service sees it. */
export type OrderDetails = {
  __typename?: 'OrderDetails';
  order: Order;
  /** Every attempt, first to last. */
  payments: Array<PaymentAttempt>;
  refunds: Array<RefundRecord>;
  /** Null once the shopper erased their personal data (eraseMyData). */
  shippingAddress?: Maybe<ShippingAddress>;
  shopperId: Scalars['ID']['output'];
};

export type OrderItem = {
  __typename?: 'OrderItem';
  product: Product;
  quantity: Scalars['Int']['output'];
  unitPrice: Money;
};

export type OrderStatus =
  | 'CANCELLED'
  | 'COMPLETED'
  | 'FAILED'
  | 'PENDING';

/** An event of the transactional outbox (admin). */
export type OutboxEvent = {
  __typename?: 'OutboxEvent';
  aggregateId: Scalars['String']['output'];
  attempts: Scalars['Int']['output'];
  createdAt: Scalars['DateTime']['output'];
  deliveries: Array<NotificationDelivery>;
  id: Scalars['ID']['output'];
  lastError?: Maybe<Scalars['String']['output']>;
  nextAttemptAt: Scalars['DateTime']['output'];
  /** The event payload as JSON. */
  payload: Scalars['String']['output'];
  status: OutboxStatus;
  topic: Scalars['String']['output'];
  userId?: Maybe<Scalars['String']['output']>;
};

export type OutboxStatus =
  | 'DEAD'
  | 'DELIVERED'
  | 'PENDING';

/** A paid order to ship (operators only). */
export type PaidOrder = {
  __typename?: 'PaidOrder';
  createdAt: Scalars['DateTime']['output'];
  items: Array<OrderItem>;
  orderId: Scalars['ID']['output'];
  /** When the payment settled (the order completed). */
  paidAt: Scalars['DateTime']['output'];
  /** Opened for shipping; null once the shopper erased their personal data. */
  shippingAddress?: Maybe<ShippingAddress>;
  /** The shopper's id (a pseudonym once they erased their data). */
  shopperId: Scalars['ID']['output'];
  total: Money;
  transactionId?: Maybe<Scalars['String']['output']>;
};

export type PaidOrderPage = {
  __typename?: 'PaidOrderPage';
  /** Pass as `after` for the next page; null when this page is empty. */
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  orders: Array<PaidOrder>;
};

export type PayInput = {
  /** In minor units; must equal the order total. */
  amount: Scalars['Int']['input'];
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  orderId: Scalars['ID']['input'];
  paymentMethod: Scalars['String']['input'];
};

export type PayResult = AlreadyPaid | AmountMismatch | InvalidInput | NotFound | PaySuccess | PaymentDeclined | PaymentUnavailable | RateLimited | ReservationExpired;

export type PaySuccess = {
  __typename?: 'PaySuccess';
  order: Order;
  paymentStatus: PaymentStatus;
  transactionId: Scalars['String']['output'];
};

/** One attempt to pay an order, with the gateway's answer. */
export type PaymentAttempt = {
  __typename?: 'PaymentAttempt';
  amount: Money;
  attempt: Scalars['Int']['output'];
  createdAt: Scalars['DateTime']['output'];
  declineCode?: Maybe<Scalars['String']['output']>;
  gateway: Scalars['String']['output'];
  message?: Maybe<Scalars['String']['output']>;
  status: PaymentAttemptStatus;
  transactionId?: Maybe<Scalars['String']['output']>;
  updatedAt: Scalars['DateTime']['output'];
};

/** PROCESSING: asked of the gateway; UNKNOWN: its answer is not known yet (reconciliation settles it); the rest are final. */
export type PaymentAttemptStatus =
  | 'DECLINED'
  | 'FAILED'
  | 'PROCESSING'
  | 'SUCCEEDED'
  | 'UNKNOWN';

export type PaymentDeclined = Error & {
  __typename?: 'PaymentDeclined';
  code: ErrorCode;
  declineCode?: Maybe<Scalars['String']['output']>;
  message: Scalars['String']['output'];
};

export type PaymentStatus =
  | 'COMPLETED'
  | 'FAILED'
  | 'PENDING';

export type PaymentUnavailable = Error & {
  __typename?: 'PaymentUnavailable';
  code: ErrorCode;
  message: Scalars['String']['output'];
  retryAfterSeconds?: Maybe<Scalars['Int']['output']>;
};

export type Product = {
  __typename?: 'Product';
  id: Scalars['ID']['output'];
  inventory: Inventory;
  name: Scalars['String']['output'];
  price: Money;
  sale: Sale;
};

export type Query = {
  __typename?: 'Query';
  /** Admin only: the blocked networks in address order, a page at a time (first: 1-500; after: the last network seen). */
  blockedNetworks: Array<BlockedNetwork>;
  /** Admin only: the blocked shoppers in user-id order, a page at a time (first: 1-500; after: the last userId seen). */
  blockedShoppers: Array<BlockedShopper>;
  /** The signed-in shopper's active cart, if any. */
  cart?: Maybe<Cart>;
  /** Admin only: outbox events that ran out of delivery attempts, newest first. */
  deadLetters: Array<OutboxEvent>;
  /** GDPR: everything held about the signed-in shopper, as a JSON document. */
  exportMyData: Scalars['String']['output'];
  inventory?: Maybe<Inventory>;
  /** The signed-in shopper's contact details and channels; null until updateContact. */
  myContact?: Maybe<Contact>;
  order?: Maybe<Order>;
  /** Admin only: any shopper's order with its shipping address, every payment attempt and every refund (a customer's question, a refund to decide). NOT_FOUND for an unknown id. Every call is audited (orders.read): it opens the address. */
  orderDetails: OrderDetails;
  /** The signed-in shopper's orders, newest first. */
  orders: Array<Order>;
  /** Admin only: paid orders to ship, oldest first, with their items and shipping address, a page at a time (first: 1-500, then `after: endCursor` while hasNextPage). Only orders with `productId` among their items when given. Every call is audited (orders.export). Lists the orders paid when it runs: a payment that settles later shows up in a later export. */
  paidOrders: PaidOrderPage;
  product?: Maybe<Product>;
  products: Array<Product>;
  /** Admin only: refunds in id order, a page at a time (first: 1-500; after: the last id seen), only those in `status` when given: the FAILED ones (metric flashsale_refunds{status="FAILED"}) are to be retried (retryRefund) or made by hand. */
  refunds: Array<RefundRecord>;
  reservation?: Maybe<Reservation>;
  /** A sale's live figures (admin only). Null when there is no such product. */
  saleStats?: Maybe<SaleStats>;
  /** Admin only: one shopper's orders, newest first (first: 1-100), in details as orderDetails gives them: for a customer who knows their account but not the order. Every call is audited (orders.read). */
  shopperOrders: Array<OrderDetails>;
};


export type QueryBlockedNetworksArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: Scalars['Int']['input'];
};


export type QueryBlockedShoppersArgs = {
  after?: InputMaybe<Scalars['ID']['input']>;
  first?: Scalars['Int']['input'];
};


export type QueryDeadLettersArgs = {
  limit?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryInventoryArgs = {
  productId: Scalars['ID']['input'];
};


export type QueryOrderArgs = {
  id: Scalars['ID']['input'];
};


export type QueryOrderDetailsArgs = {
  id: Scalars['ID']['input'];
};


export type QueryPaidOrdersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: Scalars['Int']['input'];
  productId?: InputMaybe<Scalars['ID']['input']>;
};


export type QueryProductArgs = {
  id: Scalars['ID']['input'];
};


export type QueryRefundsArgs = {
  after?: InputMaybe<Scalars['ID']['input']>;
  first?: Scalars['Int']['input'];
  status?: InputMaybe<RefundStatus>;
};


export type QueryReservationArgs = {
  id: Scalars['ID']['input'];
};


export type QuerySaleStatsArgs = {
  productId: Scalars['ID']['input'];
};


export type QueryShopperOrdersArgs = {
  first?: Scalars['Int']['input'];
  userId: Scalars['ID']['input'];
};

export type RateLimited = Error & {
  __typename?: 'RateLimited';
  code: ErrorCode;
  message: Scalars['String']['output'];
  retryAfterSeconds: Scalars['Int']['output'];
};

/** Money given back for an order's charge: the whole order refunded by an operator, or a charge of a failed attempt that no order kept. */
export type Refund = {
  __typename?: 'Refund';
  amount: Money;
  id: Scalars['ID']['output'];
  /** When the gateway made it (null until SUCCEEDED). */
  refundedAt?: Maybe<Scalars['DateTime']['output']>;
  requestedAt: Scalars['DateTime']['output'];
  status: RefundStatus;
};

export type RefundOrderResult = {
  __typename?: 'RefundOrderResult';
  order: Order;
  refund: Refund;
};

/** A refund as operators see it: what it is for, who asked and why, and the gateway's last answer. */
export type RefundRecord = {
  __typename?: 'RefundRecord';
  amount: Money;
  /** Requests made to the gateway so far, those after a retryRefund included (the count only grows). */
  attempts: Scalars['Int']['output'];
  /** The gateway that took the money and gives it back. */
  gateway: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  /** The gateway's last refusal, while it is retried or once FAILED. */
  lastError?: Maybe<Scalars['String']['output']>;
  orderId: Scalars['ID']['output'];
  /** Why it was asked for; null for a charge no order kept (refunded automatically). */
  reason?: Maybe<Scalars['String']['output']>;
  /** The gateway's id of the refund, once made. */
  refundId?: Maybe<Scalars['String']['output']>;
  requestedAt: Scalars['DateTime']['output'];
  /** The operator (or gateway:<name> for a refund made in its dashboard); null when automatic. */
  requestedBy?: Maybe<Scalars['String']['output']>;
  status: RefundStatus;
  /** The gateway's id of the charge refunded. */
  transactionId: Scalars['String']['output'];
  updatedAt: Scalars['DateTime']['output'];
};

/** PENDING: asked of the gateway (retried with backoff if it failed); SUCCEEDED: the gateway made it; FAILED: it gave up, an operator refunds by hand. */
export type RefundStatus =
  | 'FAILED'
  | 'PENDING'
  | 'SUCCEEDED';

export type ReleaseResult = InvalidInput | NotFound | ReleaseSuccess | ReservationExpired;

export type ReleaseSuccess = {
  __typename?: 'ReleaseSuccess';
  reservation: Reservation;
};

export type ReplayResult = InvalidInput | NotFound | ReplaySuccess;

export type ReplaySuccess = {
  __typename?: 'ReplaySuccess';
  event: OutboxEvent;
};

export type Reservation = {
  __typename?: 'Reservation';
  cartId: Scalars['ID']['output'];
  expiresAt: Scalars['DateTime']['output'];
  id: Scalars['ID']['output'];
  product: Product;
  quantity: Scalars['Int']['output'];
  /** Position of this reservation in arrival order for its product (1 = first). */
  sequence: Scalars['Int']['output'];
  status: ReservationStatus;
};

export type ReservationCountdown = {
  __typename?: 'ReservationCountdown';
  reservation: Reservation;
  secondsLeft: Scalars['Int']['output'];
};

export type ReservationExpired = Error & {
  __typename?: 'ReservationExpired';
  code: ErrorCode;
  message: Scalars['String']['output'];
};

export type ReservationStatus =
  | 'ACTIVE'
  | 'CHECKED_OUT'
  | 'EXPIRED'
  | 'PURCHASED'
  | 'RELEASED';

export type ReserveInput = {
  /** A solved bot challenge, when the server asks for one. */
  captcha?: InputMaybe<Scalars['String']['input']>;
  /** Same key, same shopper: the first outcome is returned again; nothing is reserved twice. */
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  productId: Scalars['ID']['input'];
  quantity?: Scalars['Int']['input'];
};

export type ReserveResult = CaptchaRequired | InvalidInput | LimitExceeded | NotFound | RateLimited | ReserveSuccess | SaleNotOpen | SoldOut;

export type ReserveSuccess = {
  __typename?: 'ReserveSuccess';
  reservation: Reservation;
};

export type Sale = {
  __typename?: 'Sale';
  endsAt?: Maybe<Scalars['DateTime']['output']>;
  perUserLimit: Scalars['Int']['output'];
  reservationTtlSeconds: Scalars['Int']['output'];
  startsAt: Scalars['DateTime']['output'];
  state: SaleState;
};

export type SaleInput = {
  endsAt?: InputMaybe<Scalars['DateTime']['input']>;
  perUserLimit?: Scalars['Int']['input'];
  reservationTtlSeconds?: Scalars['Int']['input'];
  startsAt: Scalars['DateTime']['input'];
};

export type SaleNotOpen = Error & {
  __typename?: 'SaleNotOpen';
  code: ErrorCode;
  endsAt?: Maybe<Scalars['DateTime']['output']>;
  message: Scalars['String']['output'];
  startsAt?: Maybe<Scalars['DateTime']['output']>;
};

export type SaleState =
  | 'ENDED'
  | 'LIVE'
  | 'SCHEDULED'
  | 'SOLD_OUT';

/** An operator's view of one sale: the stock ledger, revenue and demand, from Postgres at the moment asked. */
export type SaleStats = {
  __typename?: 'SaleStats';
  at: Scalars['DateTime']['output'];
  availableQuantity: Scalars['Int']['output'];
  productId: Scalars['ID']['output'];
  /** Reserve attempts per second over the last 5 seconds (every api process when Redis is configured). */
  reserveAttemptsPerSecond: Scalars['Float']['output'];
  reservedQuantity: Scalars['Int']['output'];
  /** Paid orders for this product, in minor units. */
  revenue: Money;
  soldQuantity: Scalars['Int']['output'];
  totalQuantity: Scalars['Int']['output'];
};

export type ShippingAddress = {
  __typename?: 'ShippingAddress';
  addressLine1: Scalars['String']['output'];
  addressLine2?: Maybe<Scalars['String']['output']>;
  city: Scalars['String']['output'];
  country: Scalars['String']['output'];
  postalCode: Scalars['String']['output'];
};

export type SoldOut = Error & {
  __typename?: 'SoldOut';
  code: ErrorCode;
  message: Scalars['String']['output'];
  productId: Scalars['ID']['output'];
};

export type Subscription = {
  __typename?: 'Subscription';
  /** The order, now and after every change of status, and after each of its refunds is made or fails for good; it ends once the order is FAILED or CANCELLED with no refund pending. */
  orderStatusChanged: Order;
  /** The reservation, now and every second until it ends, then its final state. */
  reservationCountdown: ReservationCountdown;
  /** A sale's live figures now and then every SALE_STATS_INTERVAL_MS (admin only). */
  saleStats: SaleStats;
  /** The product's inventory, now and after every change. */
  stockChanged: Inventory;
};


export type SubscriptionOrderStatusChangedArgs = {
  orderId: Scalars['ID']['input'];
};


export type SubscriptionReservationCountdownArgs = {
  reservationId: Scalars['ID']['input'];
};


export type SubscriptionSaleStatsArgs = {
  productId: Scalars['ID']['input'];
};


export type SubscriptionStockChangedArgs = {
  productId: Scalars['ID']['input'];
};

export type UnblockNetworksResult = {
  __typename?: 'UnblockNetworksResult';
  unblocked: Scalars['Int']['output'];
};

export type UnblockShoppersResult = {
  __typename?: 'UnblockShoppersResult';
  unblocked: Scalars['Int']['output'];
};

export type UpdateContactInput = {
  /** The channels you accept; empty for none. */
  channels: Array<NotificationChannel>;
  email?: InputMaybe<Scalars['String']['input']>;
  /** E.164: + then country code and number, e.g. +14155550123. */
  phone?: InputMaybe<Scalars['String']['input']>;
};

export type UpdateContactResult = ContactSuccess | InvalidInput;

/** What to correct; a field left out keeps its value. */
export type UpdateProductInput = {
  currency?: InputMaybe<Scalars['String']['input']>;
  name?: InputMaybe<Scalars['String']['input']>;
  perUserLimit?: InputMaybe<Scalars['Int']['input']>;
  priceAmount?: InputMaybe<Scalars['Int']['input']>;
  reservationTtlSeconds?: InputMaybe<Scalars['Int']['input']>;
};

export type InventoryFieldsFragment = { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null };

export type ProductFieldsFragment = { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } };

export type ReservationFieldsFragment = { __typename?: 'Reservation', id: string, cartId: string, quantity: number, expiresAt: string, status: ReservationStatus, sequence: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string } } };

export type OrderFieldsFragment = { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> };

export type ProductsQueryVariables = Exact<{ [key: string]: never; }>;


export type ProductsQuery = { __typename?: 'Query', products: Array<{ __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } }> };

export type ProductQueryVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type ProductQuery = { __typename?: 'Query', product?: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } | null };

export type InventoryQueryVariables = Exact<{
  productId: Scalars['ID']['input'];
}>;


export type InventoryQuery = { __typename?: 'Query', inventory?: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } | null };

export type CartQueryVariables = Exact<{ [key: string]: never; }>;


export type CartQuery = { __typename?: 'Query', cart?: { __typename?: 'Cart', id: string, expiresAt?: string | null, reservations: Array<{ __typename?: 'Reservation', id: string, cartId: string, quantity: number, expiresAt: string, status: ReservationStatus, sequence: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string } } }> } | null };

export type ReservationQueryVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type ReservationQuery = { __typename?: 'Query', reservation?: { __typename?: 'Reservation', id: string, cartId: string, quantity: number, expiresAt: string, status: ReservationStatus, sequence: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string } } } | null };

export type RefundFieldsFragment = { __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } };

export type OrderQueryVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type OrderQuery = { __typename?: 'Query', order?: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> } | null };

export type OrdersQueryVariables = Exact<{ [key: string]: never; }>;


export type OrdersQuery = { __typename?: 'Query', orders: Array<{ __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> }> };

export type PaidOrdersQueryVariables = Exact<{
  productId?: InputMaybe<Scalars['ID']['input']>;
  first: Scalars['Int']['input'];
  after?: InputMaybe<Scalars['String']['input']>;
}>;


export type PaidOrdersQuery = { __typename?: 'Query', paidOrders: { __typename?: 'PaidOrderPage', endCursor?: string | null, hasNextPage: boolean, orders: Array<{ __typename?: 'PaidOrder', orderId: string, shopperId: string, transactionId?: string | null, createdAt: string, paidAt: string, items: Array<{ __typename?: 'OrderItem', quantity: number, product: { __typename?: 'Product', id: string, name: string }, unitPrice: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, shippingAddress?: { __typename?: 'ShippingAddress', addressLine1: string, addressLine2?: string | null, city: string, postalCode: string, country: string } | null }> } };

export type CreateProductMutationVariables = Exact<{
  input: CreateProductInput;
}>;


export type CreateProductMutation = { __typename?: 'Mutation', createProduct: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } };

export type EndSaleMutationVariables = Exact<{
  productId: Scalars['ID']['input'];
}>;


export type EndSaleMutation = { __typename?: 'Mutation', endSale: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } };

export type CancelSaleMutationVariables = Exact<{
  productId: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
  refundPaidOrders: Scalars['Boolean']['input'];
}>;


export type CancelSaleMutation = { __typename?: 'Mutation', cancelSale: { __typename?: 'CancelSaleResult', holdsRevoked: number, ordersRefunded: number, paymentsInFlight: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } } };

export type UpdateProductMutationVariables = Exact<{
  productId: Scalars['ID']['input'];
  input: UpdateProductInput;
}>;


export type UpdateProductMutation = { __typename?: 'Mutation', updateProduct: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } };

export type RescheduleSaleMutationVariables = Exact<{
  productId: Scalars['ID']['input'];
  startsAt: Scalars['DateTime']['input'];
  endsAt?: InputMaybe<Scalars['DateTime']['input']>;
}>;


export type RescheduleSaleMutation = { __typename?: 'Mutation', rescheduleSale: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } };

export type BlockNetworksMutationVariables = Exact<{
  networks: Array<Scalars['String']['input']> | Scalars['String']['input'];
  reason: Scalars['String']['input'];
}>;


export type BlockNetworksMutation = { __typename?: 'Mutation', blockNetworks: { __typename?: 'BlockNetworksResult', blocked: number } };

export type BlockShoppersMutationVariables = Exact<{
  userIds: Array<Scalars['ID']['input']> | Scalars['ID']['input'];
  reason: Scalars['String']['input'];
}>;


export type BlockShoppersMutation = { __typename?: 'Mutation', blockShoppers: { __typename?: 'BlockShoppersResult', blocked: number, holdsRevoked: number } };

export type RefundOrderMutationVariables = Exact<{
  orderId: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
}>;


export type RefundOrderMutation = { __typename?: 'Mutation', refundOrder: { __typename?: 'RefundOrderResult', order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> }, refund: { __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } } } };

export type RefundRecordFieldsFragment = { __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } };

export type OrderDetailsFieldsFragment = { __typename?: 'OrderDetails', shopperId: string, order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> }, shippingAddress?: { __typename?: 'ShippingAddress', addressLine1: string, addressLine2?: string | null, city: string, postalCode: string, country: string } | null, payments: Array<{ __typename?: 'PaymentAttempt', attempt: number, gateway: string, status: PaymentAttemptStatus, transactionId?: string | null, declineCode?: string | null, message?: string | null, createdAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }>, refunds: Array<{ __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }> };

export type OrderDetailsQueryVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type OrderDetailsQuery = { __typename?: 'Query', orderDetails: { __typename?: 'OrderDetails', shopperId: string, order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> }, shippingAddress?: { __typename?: 'ShippingAddress', addressLine1: string, addressLine2?: string | null, city: string, postalCode: string, country: string } | null, payments: Array<{ __typename?: 'PaymentAttempt', attempt: number, gateway: string, status: PaymentAttemptStatus, transactionId?: string | null, declineCode?: string | null, message?: string | null, createdAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }>, refunds: Array<{ __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }> } };

export type ShopperOrdersQueryVariables = Exact<{
  userId: Scalars['ID']['input'];
  first: Scalars['Int']['input'];
}>;


export type ShopperOrdersQuery = { __typename?: 'Query', shopperOrders: Array<{ __typename?: 'OrderDetails', shopperId: string, order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', id: string, status: RefundStatus, requestedAt: string, refundedAt?: string | null, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> }, shippingAddress?: { __typename?: 'ShippingAddress', addressLine1: string, addressLine2?: string | null, city: string, postalCode: string, country: string } | null, payments: Array<{ __typename?: 'PaymentAttempt', attempt: number, gateway: string, status: PaymentAttemptStatus, transactionId?: string | null, declineCode?: string | null, message?: string | null, createdAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }>, refunds: Array<{ __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }> }> };

export type RefundsQueryVariables = Exact<{
  status?: InputMaybe<RefundStatus>;
  first: Scalars['Int']['input'];
  after?: InputMaybe<Scalars['ID']['input']>;
}>;


export type RefundsQuery = { __typename?: 'Query', refunds: Array<{ __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } }> };

export type RetryRefundMutationVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type RetryRefundMutation = { __typename?: 'Mutation', retryRefund: { __typename?: 'RefundRecord', id: string, orderId: string, status: RefundStatus, gateway: string, transactionId: string, refundId?: string | null, reason?: string | null, requestedBy?: string | null, attempts: number, lastError?: string | null, requestedAt: string, updatedAt: string, amount: { __typename?: 'Money', amount: number, currency: string } } };

export type UnblockNetworksMutationVariables = Exact<{
  networks: Array<Scalars['String']['input']> | Scalars['String']['input'];
}>;


export type UnblockNetworksMutation = { __typename?: 'Mutation', unblockNetworks: { __typename?: 'UnblockNetworksResult', unblocked: number } };

export type UnblockShoppersMutationVariables = Exact<{
  userIds: Array<Scalars['ID']['input']> | Scalars['ID']['input'];
}>;


export type UnblockShoppersMutation = { __typename?: 'Mutation', unblockShoppers: { __typename?: 'UnblockShoppersResult', unblocked: number } };

export type SetStockMutationVariables = Exact<{
  productId: Scalars['ID']['input'];
  totalQuantity: Scalars['Int']['input'];
}>;


export type SetStockMutation = { __typename?: 'Mutation', setStock: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string }, sale: { __typename?: 'Sale', startsAt: string, endsAt?: string | null, perUserLimit: number, reservationTtlSeconds: number, state: SaleState }, inventory: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } } };

export type ReserveMutationVariables = Exact<{
  input: ReserveInput;
}>;


export type ReserveMutation = { __typename?: 'Mutation', reserve: { __typename: 'CaptchaRequired', code: ErrorCode, message: string, challenge: string } | { __typename: 'InvalidInput', code: ErrorCode, message: string, field?: string | null } | { __typename: 'LimitExceeded', code: ErrorCode, message: string, limit: number } | { __typename: 'NotFound', code: ErrorCode, message: string } | { __typename: 'RateLimited', code: ErrorCode, message: string, retryAfterSeconds: number } | { __typename: 'ReserveSuccess', reservation: { __typename?: 'Reservation', id: string, cartId: string, quantity: number, expiresAt: string, status: ReservationStatus, sequence: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string } } } } | { __typename: 'SaleNotOpen', code: ErrorCode, message: string, startsAt?: string | null, endsAt?: string | null } | { __typename: 'SoldOut', code: ErrorCode, message: string, productId: string } };

export type ReleaseReservationMutationVariables = Exact<{
  id: Scalars['ID']['input'];
}>;


export type ReleaseReservationMutation = { __typename?: 'Mutation', releaseReservation: { __typename: 'InvalidInput', code: ErrorCode, message: string, field?: string | null } | { __typename: 'NotFound', code: ErrorCode, message: string } | { __typename: 'ReleaseSuccess', reservation: { __typename?: 'Reservation', id: string, cartId: string, quantity: number, expiresAt: string, status: ReservationStatus, sequence: number, product: { __typename?: 'Product', id: string, name: string, price: { __typename?: 'Money', amount: number, currency: string } } } } | { __typename: 'ReservationExpired', code: ErrorCode, message: string } };

export type CheckoutMutationVariables = Exact<{
  input: CheckoutInput;
}>;


export type CheckoutMutation = { __typename?: 'Mutation', checkout: { __typename: 'CartEmpty', code: ErrorCode, message: string } | { __typename: 'CheckoutSuccess', order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> } } | { __typename: 'InvalidInput', code: ErrorCode, message: string, field?: string | null } | { __typename: 'NotFound', code: ErrorCode, message: string } | { __typename: 'RateLimited', code: ErrorCode, message: string, retryAfterSeconds: number } | { __typename: 'ReservationExpired', code: ErrorCode, message: string } };

export type PayMutationVariables = Exact<{
  input: PayInput;
}>;


export type PayMutation = { __typename?: 'Mutation', pay: { __typename: 'AlreadyPaid', code: ErrorCode, message: string, order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> } } | { __typename: 'AmountMismatch', code: ErrorCode, message: string, expected: { __typename?: 'Money', amount: number, currency: string } } | { __typename: 'InvalidInput', code: ErrorCode, message: string, field?: string | null } | { __typename: 'NotFound', code: ErrorCode, message: string } | { __typename: 'PaySuccess', transactionId: string, paymentStatus: PaymentStatus, order: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> } } | { __typename: 'PaymentDeclined', code: ErrorCode, message: string, declineCode?: string | null } | { __typename: 'PaymentUnavailable', code: ErrorCode, message: string, retryAfter?: number | null } | { __typename: 'RateLimited', code: ErrorCode, message: string, retryAfterSeconds: number } | { __typename: 'ReservationExpired', code: ErrorCode, message: string } };

export type StockChangedSubscriptionVariables = Exact<{
  productId: Scalars['ID']['input'];
}>;


export type StockChangedSubscription = { __typename?: 'Subscription', stockChanged: { __typename?: 'Inventory', productId: string, totalQuantity: number, availableQuantity: number, reservedQuantity: number, soldQuantity: number, soldOut: boolean, updatedAt: string, saleStartsAt: string, saleEndsAt?: string | null } };

export type ReservationCountdownSubscriptionVariables = Exact<{
  reservationId: Scalars['ID']['input'];
}>;


export type ReservationCountdownSubscription = { __typename?: 'Subscription', reservationCountdown: { __typename?: 'ReservationCountdown', secondsLeft: number, reservation: { __typename?: 'Reservation', id: string, status: ReservationStatus, expiresAt: string } } };

export type OrderStatusChangedSubscriptionVariables = Exact<{
  orderId: Scalars['ID']['input'];
}>;


export type OrderStatusChangedSubscription = { __typename?: 'Subscription', orderStatusChanged: { __typename?: 'Order', id: string, cartId: string, status: OrderStatus, paymentStatus: PaymentStatus, inventoryStatus: InventoryStatus, transactionId?: string | null, createdAt: string, updatedAt: string, refunds: Array<{ __typename?: 'Refund', status: RefundStatus, amount: { __typename?: 'Money', amount: number, currency: string } }>, total: { __typename?: 'Money', amount: number, currency: string }, items: Array<{ __typename?: 'OrderItem', quantity: number, unitPrice: { __typename?: 'Money', amount: number, currency: string }, product: { __typename?: 'Product', id: string, name: string } }> } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const InventoryFieldsFragmentDoc = new TypedDocumentString(`
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
    `, {"fragmentName":"InventoryFields"}) as unknown as TypedDocumentString<InventoryFieldsFragment, unknown>;
export const ProductFieldsFragmentDoc = new TypedDocumentString(`
    fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}`, {"fragmentName":"ProductFields"}) as unknown as TypedDocumentString<ProductFieldsFragment, unknown>;
export const ReservationFieldsFragmentDoc = new TypedDocumentString(`
    fragment ReservationFields on Reservation {
  id
  cartId
  quantity
  expiresAt
  status
  sequence
  product {
    id
    name
    price {
      amount
      currency
    }
  }
}
    `, {"fragmentName":"ReservationFields"}) as unknown as TypedDocumentString<ReservationFieldsFragment, unknown>;
export const OrderFieldsFragmentDoc = new TypedDocumentString(`
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
    `, {"fragmentName":"OrderFields"}) as unknown as TypedDocumentString<OrderFieldsFragment, unknown>;
export const RefundFieldsFragmentDoc = new TypedDocumentString(`
    fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}
    `, {"fragmentName":"RefundFields"}) as unknown as TypedDocumentString<RefundFieldsFragment, unknown>;
export const RefundRecordFieldsFragmentDoc = new TypedDocumentString(`
    fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}
    `, {"fragmentName":"RefundRecordFields"}) as unknown as TypedDocumentString<RefundRecordFieldsFragment, unknown>;
export const OrderDetailsFieldsFragmentDoc = new TypedDocumentString(`
    fragment OrderDetailsFields on OrderDetails {
  order {
    ...OrderFields
    refunds {
      ...RefundFields
    }
  }
  shopperId
  shippingAddress {
    addressLine1
    addressLine2
    city
    postalCode
    country
  }
  payments {
    attempt
    gateway
    status
    amount {
      amount
      currency
    }
    transactionId
    declineCode
    message
    createdAt
    updatedAt
  }
  refunds {
    ...RefundRecordFields
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}
fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}`, {"fragmentName":"OrderDetailsFields"}) as unknown as TypedDocumentString<OrderDetailsFieldsFragment, unknown>;
export const ProductsDocument = new TypedDocumentString(`
    query Products {
  products {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<ProductsQuery, ProductsQueryVariables>;
export const ProductDocument = new TypedDocumentString(`
    query Product($id: ID!) {
  product(id: $id) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<ProductQuery, ProductQueryVariables>;
export const InventoryDocument = new TypedDocumentString(`
    query Inventory($productId: ID!) {
  inventory(productId: $productId) {
    ...InventoryFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}`) as unknown as TypedDocumentString<InventoryQuery, InventoryQueryVariables>;
export const CartDocument = new TypedDocumentString(`
    query Cart {
  cart {
    id
    expiresAt
    reservations {
      ...ReservationFields
    }
  }
}
    fragment ReservationFields on Reservation {
  id
  cartId
  quantity
  expiresAt
  status
  sequence
  product {
    id
    name
    price {
      amount
      currency
    }
  }
}`) as unknown as TypedDocumentString<CartQuery, CartQueryVariables>;
export const ReservationDocument = new TypedDocumentString(`
    query Reservation($id: ID!) {
  reservation(id: $id) {
    ...ReservationFields
  }
}
    fragment ReservationFields on Reservation {
  id
  cartId
  quantity
  expiresAt
  status
  sequence
  product {
    id
    name
    price {
      amount
      currency
    }
  }
}`) as unknown as TypedDocumentString<ReservationQuery, ReservationQueryVariables>;
export const OrderDocument = new TypedDocumentString(`
    query Order($id: ID!) {
  order(id: $id) {
    ...OrderFields
    refunds {
      ...RefundFields
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}`) as unknown as TypedDocumentString<OrderQuery, OrderQueryVariables>;
export const OrdersDocument = new TypedDocumentString(`
    query Orders {
  orders {
    ...OrderFields
    refunds {
      ...RefundFields
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}`) as unknown as TypedDocumentString<OrdersQuery, OrdersQueryVariables>;
export const PaidOrdersDocument = new TypedDocumentString(`
    query PaidOrders($productId: ID, $first: Int!, $after: String) {
  paidOrders(productId: $productId, first: $first, after: $after) {
    orders {
      orderId
      shopperId
      items {
        product {
          id
          name
        }
        quantity
        unitPrice {
          amount
          currency
        }
      }
      total {
        amount
        currency
      }
      transactionId
      createdAt
      paidAt
      shippingAddress {
        addressLine1
        addressLine2
        city
        postalCode
        country
      }
    }
    endCursor
    hasNextPage
  }
}
    `) as unknown as TypedDocumentString<PaidOrdersQuery, PaidOrdersQueryVariables>;
export const CreateProductDocument = new TypedDocumentString(`
    mutation CreateProduct($input: CreateProductInput!) {
  createProduct(input: $input) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<CreateProductMutation, CreateProductMutationVariables>;
export const EndSaleDocument = new TypedDocumentString(`
    mutation EndSale($productId: ID!) {
  endSale(productId: $productId) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<EndSaleMutation, EndSaleMutationVariables>;
export const CancelSaleDocument = new TypedDocumentString(`
    mutation CancelSale($productId: ID!, $reason: String!, $refundPaidOrders: Boolean!) {
  cancelSale(
    productId: $productId
    reason: $reason
    refundPaidOrders: $refundPaidOrders
  ) {
    product {
      ...ProductFields
    }
    holdsRevoked
    ordersRefunded
    paymentsInFlight
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<CancelSaleMutation, CancelSaleMutationVariables>;
export const UpdateProductDocument = new TypedDocumentString(`
    mutation UpdateProduct($productId: ID!, $input: UpdateProductInput!) {
  updateProduct(productId: $productId, input: $input) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<UpdateProductMutation, UpdateProductMutationVariables>;
export const RescheduleSaleDocument = new TypedDocumentString(`
    mutation RescheduleSale($productId: ID!, $startsAt: DateTime!, $endsAt: DateTime) {
  rescheduleSale(productId: $productId, startsAt: $startsAt, endsAt: $endsAt) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<RescheduleSaleMutation, RescheduleSaleMutationVariables>;
export const BlockNetworksDocument = new TypedDocumentString(`
    mutation BlockNetworks($networks: [String!]!, $reason: String!) {
  blockNetworks(networks: $networks, reason: $reason) {
    blocked
  }
}
    `) as unknown as TypedDocumentString<BlockNetworksMutation, BlockNetworksMutationVariables>;
export const BlockShoppersDocument = new TypedDocumentString(`
    mutation BlockShoppers($userIds: [ID!]!, $reason: String!) {
  blockShoppers(userIds: $userIds, reason: $reason) {
    blocked
    holdsRevoked
  }
}
    `) as unknown as TypedDocumentString<BlockShoppersMutation, BlockShoppersMutationVariables>;
export const RefundOrderDocument = new TypedDocumentString(`
    mutation RefundOrder($orderId: ID!, $reason: String!) {
  refundOrder(orderId: $orderId, reason: $reason) {
    order {
      ...OrderFields
    }
    refund {
      ...RefundFields
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}`) as unknown as TypedDocumentString<RefundOrderMutation, RefundOrderMutationVariables>;
export const OrderDetailsDocument = new TypedDocumentString(`
    query OrderDetails($id: ID!) {
  orderDetails(id: $id) {
    ...OrderDetailsFields
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}
fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}
fragment OrderDetailsFields on OrderDetails {
  order {
    ...OrderFields
    refunds {
      ...RefundFields
    }
  }
  shopperId
  shippingAddress {
    addressLine1
    addressLine2
    city
    postalCode
    country
  }
  payments {
    attempt
    gateway
    status
    amount {
      amount
      currency
    }
    transactionId
    declineCode
    message
    createdAt
    updatedAt
  }
  refunds {
    ...RefundRecordFields
  }
}`) as unknown as TypedDocumentString<OrderDetailsQuery, OrderDetailsQueryVariables>;
export const ShopperOrdersDocument = new TypedDocumentString(`
    query ShopperOrders($userId: ID!, $first: Int!) {
  shopperOrders(userId: $userId, first: $first) {
    ...OrderDetailsFields
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}
fragment RefundFields on Refund {
  id
  status
  amount {
    amount
    currency
  }
  requestedAt
  refundedAt
}
fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}
fragment OrderDetailsFields on OrderDetails {
  order {
    ...OrderFields
    refunds {
      ...RefundFields
    }
  }
  shopperId
  shippingAddress {
    addressLine1
    addressLine2
    city
    postalCode
    country
  }
  payments {
    attempt
    gateway
    status
    amount {
      amount
      currency
    }
    transactionId
    declineCode
    message
    createdAt
    updatedAt
  }
  refunds {
    ...RefundRecordFields
  }
}`) as unknown as TypedDocumentString<ShopperOrdersQuery, ShopperOrdersQueryVariables>;
export const RefundsDocument = new TypedDocumentString(`
    query Refunds($status: RefundStatus, $first: Int!, $after: ID) {
  refunds(status: $status, first: $first, after: $after) {
    ...RefundRecordFields
  }
}
    fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}`) as unknown as TypedDocumentString<RefundsQuery, RefundsQueryVariables>;
export const RetryRefundDocument = new TypedDocumentString(`
    mutation RetryRefund($id: ID!) {
  retryRefund(id: $id) {
    ...RefundRecordFields
  }
}
    fragment RefundRecordFields on RefundRecord {
  id
  orderId
  amount {
    amount
    currency
  }
  status
  gateway
  transactionId
  refundId
  reason
  requestedBy
  attempts
  lastError
  requestedAt
  updatedAt
}`) as unknown as TypedDocumentString<RetryRefundMutation, RetryRefundMutationVariables>;
export const UnblockNetworksDocument = new TypedDocumentString(`
    mutation UnblockNetworks($networks: [String!]!) {
  unblockNetworks(networks: $networks) {
    unblocked
  }
}
    `) as unknown as TypedDocumentString<UnblockNetworksMutation, UnblockNetworksMutationVariables>;
export const UnblockShoppersDocument = new TypedDocumentString(`
    mutation UnblockShoppers($userIds: [ID!]!) {
  unblockShoppers(userIds: $userIds) {
    unblocked
  }
}
    `) as unknown as TypedDocumentString<UnblockShoppersMutation, UnblockShoppersMutationVariables>;
export const SetStockDocument = new TypedDocumentString(`
    mutation SetStock($productId: ID!, $totalQuantity: Int!) {
  setStock(productId: $productId, totalQuantity: $totalQuantity) {
    ...ProductFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}
fragment ProductFields on Product {
  id
  name
  price {
    amount
    currency
  }
  sale {
    startsAt
    endsAt
    perUserLimit
    reservationTtlSeconds
    state
  }
  inventory {
    ...InventoryFields
  }
}`) as unknown as TypedDocumentString<SetStockMutation, SetStockMutationVariables>;
export const ReserveDocument = new TypedDocumentString(`
    mutation Reserve($input: ReserveInput!) {
  reserve(input: $input) {
    __typename
    ... on ReserveSuccess {
      reservation {
        ...ReservationFields
      }
    }
    ... on Error {
      code
      message
    }
    ... on SoldOut {
      productId
    }
    ... on LimitExceeded {
      limit
    }
    ... on SaleNotOpen {
      startsAt
      endsAt
    }
    ... on InvalidInput {
      field
    }
    ... on RateLimited {
      retryAfterSeconds
    }
    ... on CaptchaRequired {
      challenge
    }
  }
}
    fragment ReservationFields on Reservation {
  id
  cartId
  quantity
  expiresAt
  status
  sequence
  product {
    id
    name
    price {
      amount
      currency
    }
  }
}`) as unknown as TypedDocumentString<ReserveMutation, ReserveMutationVariables>;
export const ReleaseReservationDocument = new TypedDocumentString(`
    mutation ReleaseReservation($id: ID!) {
  releaseReservation(id: $id) {
    __typename
    ... on ReleaseSuccess {
      reservation {
        ...ReservationFields
      }
    }
    ... on Error {
      code
      message
    }
    ... on InvalidInput {
      field
    }
  }
}
    fragment ReservationFields on Reservation {
  id
  cartId
  quantity
  expiresAt
  status
  sequence
  product {
    id
    name
    price {
      amount
      currency
    }
  }
}`) as unknown as TypedDocumentString<ReleaseReservationMutation, ReleaseReservationMutationVariables>;
export const CheckoutDocument = new TypedDocumentString(`
    mutation Checkout($input: CheckoutInput!) {
  checkout(input: $input) {
    __typename
    ... on CheckoutSuccess {
      order {
        ...OrderFields
      }
    }
    ... on Error {
      code
      message
    }
    ... on InvalidInput {
      field
    }
    ... on RateLimited {
      retryAfterSeconds
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}`) as unknown as TypedDocumentString<CheckoutMutation, CheckoutMutationVariables>;
export const PayDocument = new TypedDocumentString(`
    mutation Pay($input: PayInput!) {
  pay(input: $input) {
    __typename
    ... on PaySuccess {
      transactionId
      paymentStatus
      order {
        ...OrderFields
      }
    }
    ... on Error {
      code
      message
    }
    ... on PaymentDeclined {
      declineCode
    }
    ... on PaymentUnavailable {
      retryAfter: retryAfterSeconds
    }
    ... on AmountMismatch {
      expected {
        amount
        currency
      }
    }
    ... on AlreadyPaid {
      order {
        ...OrderFields
      }
    }
    ... on InvalidInput {
      field
    }
    ... on RateLimited {
      retryAfterSeconds
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}`) as unknown as TypedDocumentString<PayMutation, PayMutationVariables>;
export const StockChangedDocument = new TypedDocumentString(`
    subscription StockChanged($productId: ID!) {
  stockChanged(productId: $productId) {
    ...InventoryFields
  }
}
    fragment InventoryFields on Inventory {
  productId
  totalQuantity
  availableQuantity
  reservedQuantity
  soldQuantity
  soldOut
  updatedAt
  saleStartsAt
  saleEndsAt
}`) as unknown as TypedDocumentString<StockChangedSubscription, StockChangedSubscriptionVariables>;
export const ReservationCountdownDocument = new TypedDocumentString(`
    subscription ReservationCountdown($reservationId: ID!) {
  reservationCountdown(reservationId: $reservationId) {
    secondsLeft
    reservation {
      id
      status
      expiresAt
    }
  }
}
    `) as unknown as TypedDocumentString<ReservationCountdownSubscription, ReservationCountdownSubscriptionVariables>;
export const OrderStatusChangedDocument = new TypedDocumentString(`
    subscription OrderStatusChanged($orderId: ID!) {
  orderStatusChanged(orderId: $orderId) {
    ...OrderFields
    refunds {
      status
      amount {
        amount
        currency
      }
    }
  }
}
    fragment OrderFields on Order {
  id
  cartId
  status
  paymentStatus
  inventoryStatus
  transactionId
  total {
    amount
    currency
  }
  items {
    quantity
    unitPrice {
      amount
      currency
    }
    product {
      id
      name
    }
  }
  createdAt
  updatedAt
}`) as unknown as TypedDocumentString<OrderStatusChangedSubscription, OrderStatusChangedSubscriptionVariables>;