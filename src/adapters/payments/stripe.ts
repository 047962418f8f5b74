import Stripe from 'stripe';
import type { Logger } from 'pino';
import {
  type ChargeOutcome,
  type ChargeRequest,
  type GatewayNotification,
  type RefundNotification,
  NotificationRejected,
  type PaymentGateway,
  type RefundRequest,
} from '../../domain/payments/port.js';

export interface StripeGatewayOptions {
  secretKey: string;
  webhookSecret?: string;
  /** Override the API origin (tests, egress proxies), e.g. http://127.0.0.1:12111. */
  apiBase?: string;
  /** Per-request timeout in ms: a request that takes longer has an unknown outcome. */
  timeoutMs: number;
  log?: Logger;
}

type Final = Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }>;

/** Raised inside the adapter when the outcome cannot be known from this answer. */
class Unknown extends Error {}

const { StripeCardError, StripeConnectionError, StripeError, StripeSignatureVerificationError } = Stripe.errors;

/** Not charged for sure: the request never reached Stripe (refused, DNS, TLS before sending). */
function neverSent(err: unknown): boolean {
  const detail = (err as { detail?: { code?: string } }).detail;
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(detail?.code ?? '');
}

const isTimeout = (err: unknown) => err instanceof StripeConnectionError && /timeout/i.test(err.message);

/**
 * Stripe through the official SDK, with PaymentIntents in two steps:
 * 1. create (never charges) with idempotency key `<key>-create`,
 * 2. confirm (charges) with idempotency key `<key>-confirm`.
 * Because creation is idempotent and harmless, `lookup` can find the intent for an
 * attempt by replaying step 1, read its state, and fence an unconfirmed intent by
 * cancelling it — so "not charged" is an answer we can act on (failover).
 */
export class StripeGateway implements PaymentGateway {
  readonly name = 'stripe';
  private readonly stripe: Stripe;

  constructor(private readonly opts: StripeGatewayOptions) {
    const base = opts.apiBase ? new URL(opts.apiBase) : undefined;
    this.stripe = new Stripe(opts.secretKey, {
      timeout: opts.timeoutMs,
      // Retries are the router's: one retry with the same key after an unknown outcome.
      maxNetworkRetries: 0,
      telemetry: false,
      ...(base && {
        host: base.hostname,
        port: base.port || (base.protocol === 'https:' ? 443 : 80),
        protocol: base.protocol === 'https:' ? 'https' : 'http',
      }),
    });
  }

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    let pi: Stripe.PaymentIntent;
    try {
      pi = await this.create(req);
    } catch (err) {
      if (err instanceof StripeError && err.type === 'StripeInvalidRequestError' && (err.statusCode ?? 0) < 409 && err.statusCode !== 401) {
        // e.g. resource_missing: no such payment method. Nothing was created or charged.
        return { status: 'declined', declineCode: err.code ?? 'invalid_request', message: err.message };
      }
      // Creating an intent never charges: whatever went wrong, nothing was taken.
      this.opts.log?.warn({ err: describe(err) }, 'stripe: creating the payment intent failed');
      return { status: 'unavailable', message: `Stripe could not create the payment: ${describe(err)}`, retryAfterSeconds: 2 };
    }
    if (pi.status !== 'requires_confirmation') return this.mapIntent(pi) ?? { status: 'unknown', message: `Stripe intent ${pi.id} is ${pi.status}` };
    try {
      const confirmed = await this.stripe.paymentIntents.confirm(pi.id, {}, { idempotencyKey: `${req.idempotencyKey}-confirm` });
      return this.mapIntent(confirmed) ?? { status: 'unknown', message: `Stripe intent ${pi.id} is ${confirmed.status}` };
    } catch (err) {
      if (err instanceof StripeCardError) {
        return {
          status: 'declined',
          declineCode: err.decline_code ?? err.code ?? 'card_declined',
          message: err.message,
          transactionId: err.payment_intent?.id ?? pi.id,
        };
      }
      if (err instanceof StripeConnectionError && !isTimeout(err) && neverSent(err)) {
        return { status: 'unavailable', message: `Stripe is unreachable: ${describe(err)}`, retryAfterSeconds: 2 };
      }
      if (isTimeout(err) || err instanceof StripeConnectionError) return { status: 'unknown', message: `Stripe did not answer in time (${describe(err)})` };
      if (err instanceof StripeError && err.statusCode === 429) {
        // Rate-limited requests are not processed.
        return { status: 'unavailable', message: 'Stripe is rate limiting requests', retryAfterSeconds: 2 };
      }
      // A 5xx, an idempotency conflict (the first confirm is still running) or a state
      // error: ask Stripe what the intent looks like now.
      this.opts.log?.warn({ err: describe(err) }, 'stripe: confirm failed; looking the intent up');
      try {
        const rec = await this.lookup(req);
        return rec ?? { status: 'unavailable', message: `Stripe failed (${describe(err)}); nothing was charged`, retryAfterSeconds: 2 };
      } catch {
        return { status: 'unknown', message: `Stripe failed (${describe(err)}) and the charge could not be looked up` };
      }
    }
  }

  async lookup(req: ChargeRequest): Promise<Final | undefined> {
    const created = await this.create(req);
    // The charge comes with it: a refund made in the dashboard before we settled shows there.
    const retrieve = () => this.stripe.paymentIntents.retrieve(created.id, { expand: ['latest_charge'] });
    let pi = await retrieve();
    if (pi.status === 'requires_confirmation' || pi.status === 'requires_payment_method') {
      if (pi.status === 'requires_payment_method' && pi.last_payment_error) return this.mapIntent(pi);
      // Fence: a cancelled intent can never be confirmed, so "not charged" stays true.
      try {
        pi = await this.stripe.paymentIntents.cancel(pi.id, { cancellation_reason: 'abandoned' }, { idempotencyKey: `${req.idempotencyKey}-fence` });
      } catch {
        pi = await retrieve();
      }
    }
    if (pi.status === 'canceled') return pi.latest_charge ? this.mapIntent(pi) : undefined;
    const out = this.mapIntent(pi);
    if (!out) throw new Unknown(`Stripe intent ${pi.id} is still ${pi.status}`);
    return out;
  }

  /**
   * Refunds the whole of an intent's charge. `pending` counts as made (Stripe completes it); a
   * charge already refunded (by an operator in the dashboard) too, so it is never retried forever.
   */
  async refund(req: RefundRequest): Promise<{ refundId: string }> {
    try {
      const r = await this.stripe.refunds.create({ payment_intent: req.transactionId, amount: req.amount }, { idempotencyKey: req.idempotencyKey });
      if (r.status === 'failed' || r.status === 'canceled') throw new Error(`Stripe refund ${r.id} is ${r.status}${r.failure_reason ? ` (${r.failure_reason})` : ''}`);
      return { refundId: r.id };
    } catch (err) {
      if (err instanceof StripeError && err.code === 'charge_already_refunded') return { refundId: 'already-refunded' };
      throw err instanceof StripeError ? new Error(`Stripe refused the refund: ${describe(err)}`) : err;
    }
  }

  async parseNotification(rawBody: string, headers: Headers): Promise<GatewayNotification | RefundNotification | undefined> {
    if (!this.opts.webhookSecret) throw new NotificationRejected('STRIPE_WEBHOOK_SECRET is not configured');
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(rawBody, headers.get('stripe-signature') ?? '', this.opts.webhookSecret);
    } catch (err) {
      if (err instanceof StripeSignatureVerificationError || err instanceof Error) throw new NotificationRejected(err.message);
      throw err;
    }
    if (event.type === 'charge.refunded') {
      // Made in the dashboard, or ours confirmed: the charge's PaymentIntent is our transaction id.
      const charge = event.data.object as Stripe.Charge;
      const intent = typeof charge.payment_intent === 'string' ? charge.payment_intent : charge.payment_intent?.id;
      if (!intent) return undefined;
      const key = charge.metadata?.idempotency_key;
      return {
        eventId: event.id,
        transactionId: intent,
        amountRefunded: charge.amount_refunded,
        refundId: charge.refunds?.data?.[0]?.id ?? null,
        // Stripe copies the intent's metadata to the charge it confirms.
        ...(key && { idempotencyKey: key }),
      };
    }
    if (event.type !== 'payment_intent.succeeded' && event.type !== 'payment_intent.payment_failed') return undefined;
    const pi = event.data.object as Stripe.PaymentIntent;
    const key = pi.metadata?.idempotency_key;
    const outcome = this.mapIntent(pi);
    if (!key || !outcome) return undefined;
    return { eventId: event.id, idempotencyKey: key, outcome };
  }

  private create(req: ChargeRequest): Promise<Stripe.PaymentIntent> {
    return this.stripe.paymentIntents.create(
      {
        amount: req.amount,
        currency: req.currency.toLowerCase(),
        payment_method: req.paymentMethod,
        automatic_payment_methods: { enabled: false },
        allowed_payment_method_types: ['card'],
        confirm: false,
        description: `flashsale order ${req.orderId}`,
        metadata: { order_id: req.orderId, idempotency_key: req.idempotencyKey },
      },
      { idempotencyKey: `${req.idempotencyKey}-create` },
    );
  }

  /** A final outcome for an intent, or undefined while it is not final (with what was refunded, when its charge was expanded). */
  private mapIntent(pi: Stripe.PaymentIntent): Final | undefined {
    if (pi.status === 'succeeded') {
      const refunded = typeof pi.latest_charge === 'object' ? (pi.latest_charge?.amount_refunded ?? 0) : 0;
      return { status: 'succeeded', transactionId: pi.id, ...(refunded > 0 && { amountRefunded: refunded }) };
    }
    const err = pi.last_payment_error;
    if ((pi.status === 'requires_payment_method' || pi.status === 'canceled') && err) {
      return { status: 'declined', declineCode: err.decline_code ?? err.code ?? 'card_declined', message: err.message ?? 'The card was declined', transactionId: pi.id };
    }
    if (pi.status === 'requires_action') {
      // 3-D Secure needs the shopper's browser: this server-side flow cannot complete it.
      return { status: 'declined', declineCode: 'authentication_required', message: 'The card requires authentication', transactionId: pi.id };
    }
    return undefined;
  }
}

function describe(err: unknown): string {
  if (err instanceof StripeError) return `${err.type}${err.statusCode ? ` ${err.statusCode}` : ''}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
