/**
 * The payment-gateway port. Card data never reaches this server: the client
 * tokenises with the gateway and sends a payment-method id (PCI DSS SAQ A scope).
 */
export interface ChargeRequest {
  orderId: string;
  amount: number;
  currency: string;
  paymentMethod: string;
  /** Derived from the order and the attempt: the gateway charges at most once per key. */
  idempotencyKey: string;
}

export type ChargeOutcome =
  /**
   * `gateway`: which gateway took the money (set by the router; recorded in payments.gateway).
   * `amountRefunded`: set by `lookup` when some of the charge has been given back since (a refund made
   * in the gateway's dashboard before we settled the attempt), in minor units.
   */
  | { status: 'succeeded'; transactionId: string; gateway?: string; amountRefunded?: number }
  | { status: 'declined'; declineCode: string; message: string; transactionId?: string; gateway?: string }
  /** The gateway did not charge (known), e.g. a 5xx before processing or an open circuit. */
  | { status: 'unavailable'; message: string; retryAfterSeconds?: number }
  /** We do not know whether it charged (timeout after sending): reconciliation settles it. */
  | { status: 'unknown'; message: string };

/** A verified gateway notification about one charge, keyed like the charge request. */
export interface GatewayNotification {
  /** The gateway's own event id (for logs; duplicates are harmless anyway). */
  eventId: string;
  idempotencyKey: string;
  /** Only final outcomes are reported: succeeded or declined. */
  outcome: Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }>;
}

/**
 * A refund of one of our charges, as the gateway reports it: one made in its dashboard, or our own
 * (`refundOrder`, the refunds job) confirmed.
 */
export interface RefundNotification {
  eventId: string;
  /** The charge refunded (a ChargeOutcome's `transactionId`: Stripe's PaymentIntent, PayPal's capture). */
  transactionId: string;
  /** How much of the charge has been refunded so far, in minor units. */
  amountRefunded: number;
  refundId: string | null;
  /**
   * The charge request's idempotency key, when the event carries it (Stripe copies the intent's
   * metadata to its charge): finds an attempt whose charge we have not settled yet.
   */
  idempotencyKey?: string;
}

/** Whether a parsed notification reports a refund rather than a charge's outcome. */
export const isRefundNotification = (n: GatewayNotification | RefundNotification): n is RefundNotification => !('outcome' in n);

/** Money to give back for one charge (the whole of it). */
export interface RefundRequest {
  /** The gateway's id of the charge (a ChargeOutcome's `transactionId`). */
  transactionId: string;
  amount: number;
  currency: string;
  /** Derived from the payment attempt: the gateway refunds at most once per key. */
  idempotencyKey: string;
}

/** Thrown by `parseNotification` when a notification fails verification. */
export class NotificationRejected extends Error {}

export interface PaymentGateway {
  readonly name: string;
  charge(req: ChargeRequest): Promise<ChargeOutcome>;
  /**
   * What the gateway recorded for a charge request (same idempotency key), for
   * reconciliation and failover. Returns a final outcome, or `undefined` when the
   * gateway has no charge for it AND none can land any more (the adapter fences a
   * pending charge, e.g. by cancelling it). Throws when it cannot tell (yet).
   * `now`: the caller's clock, for gateways that can only rule a charge out by age.
   */
  lookup?(req: ChargeRequest, now?: Date): Promise<Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }> | undefined>;
  /**
   * Verifies and decodes a webhook delivery (raw body and headers). Returns undefined
   * for an event that does not concern a charge; throws NotificationRejected when the
   * signature does not verify.
   */
  parseNotification?(rawBody: string, headers: Headers): Promise<GatewayNotification | RefundNotification | undefined>;
  /**
   * Gives a charge's money back (a charge that landed on an attempt already settled as not
   * charged). Resolves with the gateway's refund id once the gateway accepted it; throws otherwise
   * (the caller retries with the same key).
   */
  refund?(req: RefundRequest): Promise<{ refundId: string }>;
  /** The gateways behind this one (a router); a plain adapter has none. */
  readonly members?: readonly PaymentGateway[];
}

/** Every gateway adapter reachable from `deps.payments` (itself and a router's members). */
export function gatewaysOf(g: PaymentGateway): PaymentGateway[] {
  return g.members ? [g, ...g.members.flatMap(gatewaysOf)] : [g];
}
