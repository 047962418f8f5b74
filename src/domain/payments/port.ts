/**
 * The payment-gateway port. Card data never reaches this server: the client
 * tokenises with the gateway and sends a payment-method id.
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
  | { status: 'succeeded'; transactionId: string }
  | { status: 'declined'; declineCode: string; message: string; transactionId?: string }
  /** The gateway did not charge (known), e.g. a 5xx before processing or an open circuit. */
  | { status: 'unavailable'; message: string; retryAfterSeconds?: number }
  /** We do not know whether it charged (timeout after sending): reconciliation settles it. */
  | { status: 'unknown'; message: string };

export interface PaymentGateway {
  readonly name: string;
  charge(req: ChargeRequest): Promise<ChargeOutcome>;
  /** What the gateway recorded for an idempotency key, if anything (reconciliation, failover). */
  lookup?(idempotencyKey: string): Promise<ChargeOutcome | undefined>;
}
