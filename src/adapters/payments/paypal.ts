import { verify, X509Certificate } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  ApiError,
  CheckoutPaymentIntent,
  Client,
  Environment,
  type Order,
  OrdersController,
  PaymentsController,
  RefundStatus,
} from '@paypal/paypal-server-sdk';
import type { Logger } from 'pino';
import { crc32 } from 'node:zlib';
import {
  type ChargeOutcome,
  type ChargeRequest,
  type GatewayNotification,
  type RefundNotification,
  NotificationRejected,
  type PaymentGateway,
  type RefundRequest,
} from '../../domain/payments/port.js';

export interface PayPalGatewayOptions {
  clientId: string;
  clientSecret: string;
  environment: 'sandbox' | 'production';
  /**
   * Override the API origin (tests, egress proxies), e.g. http://127.0.0.1:12112.
   * The SDK only knows PayPal's two hosts, so requests are re-targeted at the
   * transport: same method, path, headers and body, another origin.
   */
  apiBase?: string;
  timeoutMs: number;
  /** PAYPAL_WEBHOOK_ID: verifies POST /webhooks/paypal. */
  webhookId?: string;
  /** How long a capture may still land after we sent it (beyond our timeout). */
  inFlightMs?: number;
  log?: Logger;
}

type Final = Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }>;

/** Currencies PayPal takes without decimals (amounts here are minor units). */
const ZERO_DECIMAL = new Set(['JPY', 'HUF', 'TWD']);

export function toPayPalValue(amount: number, currency: string): string {
  if (ZERO_DECIMAL.has(currency.toUpperCase())) return String(amount);
  return `${Math.trunc(amount / 100)}.${String(amount % 100).padStart(2, '0')}`;
}

/** A PayPal amount ("12.50", or "1250" in a currency without decimals) in minor units. */
export function fromPayPalValue(value: string, currency: string): number {
  const units = Number(value);
  return ZERO_DECIMAL.has(currency.toUpperCase()) ? Math.round(units) : Math.round(units * 100);
}

/** An axios transport that sends the SDK's requests to `base` instead of PayPal's host. */
function retarget(base: URL) {
  const secure = base.protocol === 'https:';
  const prefix = base.pathname.replace(/\/$/, '');
  return {
    request(options: RequestOptions & { path?: string }, callback: (res: unknown) => void) {
      const { agent: _agent, ...rest } = options;
      const target = {
        ...rest,
        protocol: base.protocol,
        hostname: base.hostname,
        host: base.hostname,
        port: base.port || (secure ? 443 : 80),
        path: `${prefix}${options.path ?? '/'}`,
        headers: { ...(options.headers as Record<string, string>), host: base.host },
      };
      return (secure ? httpsRequest : httpRequest)(target, callback as never);
    },
  };
}

const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * PayPal through its official server SDK (`@paypal/paypal-server-sdk`, Orders v2):
 * 1. create an order (never charges), PayPal-Request-Id `<key>-create`;
 * 2. capture it with the shopper's vaulted payment method, PayPal-Request-Id `<key>-capture`.
 * `lookup` replays step 1 (idempotent: the same order comes back) and reads the order.
 */
export class PayPalGateway implements PaymentGateway {
  readonly name = 'paypal';
  private readonly orders: OrdersController;
  private readonly payments: PaymentsController;
  private readonly certs = new Map<string, Promise<X509Certificate>>();

  constructor(private readonly opts: PayPalGatewayOptions) {
    const base = opts.apiBase ? new URL(opts.apiBase) : undefined;
    const client = new Client({
      clientCredentialsAuthCredentials: { oAuthClientId: opts.clientId, oAuthClientSecret: opts.clientSecret },
      environment: opts.environment === 'production' ? Environment.Production : Environment.Sandbox,
      timeout: opts.timeoutMs,
      httpClientOptions: { timeout: opts.timeoutMs, retryConfig: { maxNumberOfRetries: 0 } },
      ...(base && { unstable_httpClientOptions: { transport: retarget(base) } }),
    });
    this.orders = new OrdersController(client);
    this.payments = new PaymentsController(client);
  }

  /**
   * Refunds the whole of a capture (PayPal-Request-Id: the refund's key, so a retry refunds once).
   * PENDING counts as made (PayPal completes it); a capture already fully refunded too.
   */
  async refund(req: RefundRequest): Promise<{ refundId: string }> {
    try {
      const { result } = await this.payments.refundCapturedPayment({
        captureId: req.transactionId,
        paypalRequestId: req.idempotencyKey,
        prefer: 'return=representation',
        body: { amount: { currencyCode: req.currency.toUpperCase(), value: toPayPalValue(req.amount, req.currency) } },
      });
      if (result.status === RefundStatus.Failed || result.status === RefundStatus.Cancelled) throw new Error(`PayPal refund ${result.id} is ${result.status}`);
      return { refundId: result.id! };
    } catch (err) {
      if (err instanceof ApiError && issueOf(err) === 'capture_fully_refunded') return { refundId: 'already-refunded' };
      throw err instanceof ApiError ? new Error(`PayPal refused the refund: ${describe(err)} (${issueOf(err) ?? 'no detail'})`) : err;
    }
  }

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    let order: Order;
    try {
      order = await this.create(req);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 422) {
        return { status: 'declined', declineCode: issueOf(err) ?? 'invalid_request', message: messageOf(err) };
      }
      // Creating an order never charges.
      this.opts.log?.warn({ err: describe(err) }, 'paypal: creating the order failed');
      return { status: 'unavailable', message: `PayPal could not create the payment: ${describe(err)}`, retryAfterSeconds: 2 };
    }
    if (order.status === 'COMPLETED') return this.mapOrder(order) ?? { status: 'unknown', message: `PayPal order ${order.id} has no capture` };
    try {
      const { result } = await this.orders.captureOrder({
        id: order.id!,
        paypalRequestId: `${req.idempotencyKey}-capture`,
        prefer: 'return=representation',
        body: { paymentSource: { card: { vaultId: req.paymentMethod } } },
      });
      return this.mapOrder(result) ?? { status: 'unknown', message: `PayPal order ${order.id} is ${result.status}` };
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 422) {
        // INSTRUMENT_DECLINED, TRANSACTION_REFUSED, ...: the card was refused, nothing taken.
        return { status: 'declined', declineCode: issueOf(err) ?? 'declined', message: messageOf(err), transactionId: order.id };
      }
      const code = (err as { code?: string }).code;
      if (code && NEVER_SENT.has(code)) return { status: 'unavailable', message: `PayPal is unreachable (${code})`, retryAfterSeconds: 2 };
      if (err instanceof ApiError && err.statusCode === 429) return { status: 'unavailable', message: 'PayPal is rate limiting requests', retryAfterSeconds: 2 };
      if (err instanceof ApiError) {
        // A 5xx or a conflict: ask PayPal what the order looks like now.
        try {
          const rec = await this.lookup(req);
          return rec ?? { status: 'unavailable', message: `PayPal failed (${describe(err)}); nothing was charged`, retryAfterSeconds: 2 };
        } catch {
          return { status: 'unknown', message: `PayPal failed (${describe(err)}) and the capture could not be looked up` };
        }
      }
      return { status: 'unknown', message: `PayPal did not answer in time (${describe(err)})` };
    }
  }

  /**
   * PayPal cannot cancel an uncaptured order, so "not charged" is only certain once
   * the order has stayed uncaptured longer than a capture can take (`inFlightMs`).
   */
  async lookup(req: ChargeRequest, now: Date = new Date()): Promise<Final | undefined> {
    const created = await this.create(req);
    const { result: order } = await this.orders.getOrder({ id: created.id! });
    const out = this.mapOrder(order);
    if (out) return out;
    if (order.purchaseUnits?.[0]?.payments?.captures?.length) throw new Error(`PayPal order ${order.id} has a capture that is not final yet`);
    if (order.status === 'VOIDED') return undefined;
    const age = now.getTime() - Date.parse(order.createTime ?? created.createTime ?? '');
    const window = this.opts.inFlightMs ?? this.opts.timeoutMs * 3 + 5_000;
    if (Number.isFinite(age) && age > window) return undefined;
    throw new Error(`PayPal order ${order.id} is ${order.status}; a capture may still be in flight`);
  }

  /**
   * Verifies a webhook delivery offline, as PayPal documents it: the signature in
   * PAYPAL-TRANSMISSION-SIG is SHA256withRSA over
   * `<transmission id>|<transmission time>|<webhook id>|<crc32 of the raw body>`, checked
   * with the certificate at PAYPAL-CERT-URL — fetched only over https from paypal.com
   * (or from the configured PAYPAL_API_BASE origin) and cached.
   */
  async parseNotification(rawBody: string, headers: Headers): Promise<GatewayNotification | RefundNotification | undefined> {
    const webhookId = this.opts.webhookId;
    if (!webhookId) throw new NotificationRejected('PAYPAL_WEBHOOK_ID is not configured');
    const id = headers.get('paypal-transmission-id');
    const time = headers.get('paypal-transmission-time');
    const sig = headers.get('paypal-transmission-sig');
    const certUrl = headers.get('paypal-cert-url');
    const algo = headers.get('paypal-auth-algo');
    if (!id || !time || !sig || !certUrl) throw new NotificationRejected('missing PayPal transmission headers');
    if (algo && algo !== 'SHA256withRSA') throw new NotificationRejected(`unsupported auth algorithm ${algo}`);
    if (!this.trustedCertUrl(certUrl)) throw new NotificationRejected('PAYPAL-CERT-URL is not a PayPal address');
    const cert = await this.cert(certUrl);
    const now = new Date();
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) throw new NotificationRejected('PayPal signing certificate is not valid now');
    const message = `${id}|${time}|${webhookId}|${crc32(Buffer.from(rawBody, 'utf8')) >>> 0}`;
    if (!verify('sha256', Buffer.from(message), cert.publicKey, Buffer.from(sig, 'base64'))) {
      throw new NotificationRejected('PayPal webhook signature does not verify');
    }
    let event: {
      id?: string;
      event_type?: string;
      resource?: {
        id?: string;
        status?: string;
        custom_id?: string;
        invoice_id?: string;
        processor_response?: { response_code?: string };
        amount?: { value?: string; currency_code?: string };
        seller_payable_breakdown?: { total_refunded_amount?: { value?: string; currency_code?: string } };
        links?: { rel?: string; href?: string }[];
      };
    };
    try {
      event = JSON.parse(rawBody);
    } catch {
      throw new NotificationRejected('body is not JSON');
    }
    const r = event.resource;
    if (event.event_type === 'PAYMENT.CAPTURE.REFUNDED' && r?.id) {
      // The resource is the refund; its "up" link names the capture (our transaction id). The total
      // refunded so far is in the breakdown (a refund's own amount when PayPal leaves it out).
      const capture = /\/captures\/([^/?#]+)/.exec(r.links?.find((l) => l.rel === 'up')?.href ?? '')?.[1];
      const total = r.seller_payable_breakdown?.total_refunded_amount ?? r.amount;
      if (!capture || !total?.value || !total.currency_code) return undefined;
      // A refund carries the capture's invoice id (our idempotency key) when PayPal copies it.
      const key = r.invoice_id ?? r.custom_id;
      return {
        eventId: event.id ?? id,
        transactionId: decodeURIComponent(capture),
        amountRefunded: fromPayPalValue(total.value, total.currency_code),
        refundId: r.id,
        ...(key && { idempotencyKey: key }),
      };
    }
    const key = r?.custom_id;
    if (!r?.id || !key) return undefined;
    if (event.event_type === 'PAYMENT.CAPTURE.COMPLETED') {
      return { eventId: event.id ?? id, idempotencyKey: key, outcome: { status: 'succeeded', transactionId: r.id } };
    }
    if (event.event_type === 'PAYMENT.CAPTURE.DECLINED' || event.event_type === 'PAYMENT.CAPTURE.DENIED') {
      const code = r.processor_response?.response_code;
      return {
        eventId: event.id ?? id,
        idempotencyKey: key,
        outcome: { status: 'declined', declineCode: code ? `processor_${code}` : 'declined', message: 'The card was declined', transactionId: r.id },
      };
    }
    return undefined;
  }

  private trustedCertUrl(raw: string): boolean {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return false;
    }
    if (this.opts.apiBase && u.origin === new URL(this.opts.apiBase).origin) return true;
    return u.protocol === 'https:' && (u.hostname === 'paypal.com' || u.hostname.endsWith('.paypal.com'));
  }

  private cert(url: string): Promise<X509Certificate> {
    let hit = this.certs.get(url);
    if (!hit) {
      hit = (async () => {
        // Fetched once per certificate and cached: a generous limit, apart from the payment timeout.
        const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(this.opts.timeoutMs, 10_000)) });
        if (!res.ok) throw new Error(`PayPal certificate download failed: HTTP ${res.status}`);
        return new X509Certificate(await res.text());
      })();
      hit.catch(() => this.certs.delete(url));
      this.certs.set(url, hit);
    }
    return hit;
  }

  private async create(req: ChargeRequest): Promise<Order> {
    const { result } = await this.orders.createOrder({
      paypalRequestId: `${req.idempotencyKey}-create`,
      prefer: 'return=representation',
      body: {
        intent: CheckoutPaymentIntent.Capture,
        purchaseUnits: [
          {
            referenceId: req.orderId,
            customId: req.idempotencyKey,
            invoiceId: req.idempotencyKey,
            description: `flashsale order ${req.orderId}`,
            amount: { currencyCode: req.currency.toUpperCase(), value: toPayPalValue(req.amount, req.currency) },
          },
        ],
      },
    });
    return result;
  }

  private mapOrder(order: Order): Final | undefined {
    const capture = order.purchaseUnits?.[0]?.payments?.captures?.[0];
    if (!capture) return undefined;
    if (capture.status === 'COMPLETED') return { status: 'succeeded', transactionId: capture.id! };
    // Money taken and since given back (in PayPal's dashboard, before we settled the attempt): a
    // charge all the same. PayPal's order does not say how much of a partial refund; the
    // PAYMENT.CAPTURE.REFUNDED webhook does, and a partial refund keeps the order anyway.
    if (capture.status === 'REFUNDED' || capture.status === 'PARTIALLY_REFUNDED') {
      const { value, currencyCode } = capture.amount ?? {};
      const whole = capture.status === 'REFUNDED' && value && currencyCode ? fromPayPalValue(value, currencyCode) : 0;
      if (!whole) this.opts.log?.warn({ capture: capture.id }, 'paypal: part of this capture was refunded before we settled it');
      return { status: 'succeeded', transactionId: capture.id!, ...(whole > 0 && { amountRefunded: whole }) };
    }
    if (capture.status === 'DECLINED' || capture.status === 'FAILED') {
      const code = capture.processorResponse?.responseCode;
      return { status: 'declined', declineCode: code ? `processor_${code}` : 'declined', message: 'The card was declined', transactionId: capture.id };
    }
    return undefined;
  }
}

function issueOf(err: ApiError): string | undefined {
  const r = safeJson(err.body);
  return r?.details?.[0]?.issue?.toLowerCase() ?? r?.name?.toLowerCase();
}

function messageOf(err: ApiError): string {
  const r = safeJson(err.body);
  return r?.details?.[0]?.description ?? r?.message ?? 'The payment was declined';
}

function safeJson(body: unknown): { name?: string; message?: string; details?: { issue?: string; description?: string }[] } | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return `HTTP ${err.statusCode}`;
  const e = err as { code?: string; message?: string };
  return [e.code, e.message].filter(Boolean).join(' ') || String(err);
}
