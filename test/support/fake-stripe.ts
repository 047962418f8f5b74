// A small stand-in for the few Stripe endpoints the adapter uses, at the network
// boundary: the real `stripe` SDK talks HTTP to it. It keeps Stripe's idempotency
// rules (same key + same params → the saved answer; a key still in flight → 409) and
// records every charge it takes, so tests can count them.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

export type StripeEndpoint = 'create' | 'confirm' | 'retrieve' | 'cancel' | 'refund';
/**
 * - `500`: answers 500 without processing.
 * - `drop`: holds the request without processing, then drops the connection.
 * - `slow`: processes the request (a confirm charges), but answers only after `ms`.
 */
export type Fault = { kind: '500' } | { kind: 'drop'; ms: number } | { kind: 'slow'; ms: number };

export interface Intent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  status: 'requires_confirmation' | 'requires_payment_method' | 'succeeded' | 'canceled';
  payment_method: string;
  metadata: Record<string, string>;
  latest_charge: string | null;
  last_payment_error: null | { type: string; code: string; decline_code: string; message: string };
  created: number;
  livemode: false;
}

const DECLINES: Record<string, string> = {
  pm_card_chargeDeclined: 'generic_decline',
  pm_card_chargeDeclinedInsufficientFunds: 'insufficient_funds',
};

export interface FakeStripe {
  url: string;
  /** Successful charges taken (each a confirmed intent). */
  charges: { intentId: string; amount: number; currency: string; idempotencyKey: string }[];
  /** Refunds made (POST /v1/refunds), each of a succeeded intent. */
  refunds: { id: string; intentId: string; amount: number; idempotencyKey: string }[];
  requests: { endpoint: StripeEndpoint; idempotencyKey?: string }[];
  intents: Map<string, Intent>;
  /** The charge of a confirmed intent (for events about it, e.g. charge.refunded). */
  chargeOf(intentId: string): Record<string, unknown>;
  /** The next request to `endpoint` meets `fault` (queued, each used once). */
  fault(endpoint: StripeEndpoint | '*', fault: Fault, times?: number, skip?: number): void;
  /** A webhook delivery as Stripe sends it: the event JSON and its Stripe-Signature header. */
  signEvent(type: string, object: Intent | Record<string, unknown>, opts?: { secret?: string; id?: string }): Promise<{ body: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) out[k] = v;
  return out;
}

export async function startFakeStripe(opts: { secretKey: string; webhookSecret: string }): Promise<FakeStripe> {
  const intents = new Map<string, Intent>();
  const charges: FakeStripe['charges'] = [];
  const refunds: FakeStripe['refunds'] = [];
  const requests: FakeStripe['requests'] = [];
  const faults: { endpoint: StripeEndpoint | '*'; fault: Fault; skip: number }[] = [];
  const saved = new Map<string, { params: string; status: number; body: unknown }>();
  const inFlight = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(6).toString('hex')}` });
    res.end(JSON.stringify(body));
  };
  const error = (status: number, type: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { type, message, ...extra } });

  /** The charge of a confirmed intent as Stripe shows it: what was refunded, and the intent's metadata (copied at confirmation). */
  function chargeOf(intent: Intent) {
    const refunded = refunds.filter((r) => r.intentId === intent.id);
    const amountRefunded = refunded.reduce((n, r) => n + r.amount, 0);
    return {
      id: intent.latest_charge!,
      object: 'charge' as const,
      amount: intent.amount,
      amount_refunded: amountRefunded,
      refunded: amountRefunded >= intent.amount,
      currency: intent.currency,
      payment_intent: intent.id,
      metadata: intent.metadata,
      refunds: { object: 'list' as const, data: refunded.map((r) => ({ id: r.id, object: 'refund' as const, amount: r.amount })) },
    };
  }

  function process(endpoint: StripeEndpoint, id: string | undefined, form: Record<string, string>, key: string | undefined): { status: number; body: unknown } {
    if (endpoint === 'create') {
      const pm = form.payment_method;
      if (!pm?.startsWith('pm_') && !pm?.startsWith('tok_')) {
        return { status: 400, body: error(400, 'invalid_request_error', `No such PaymentMethod: '${pm}'`, { code: 'resource_missing', param: 'payment_method' }) };
      }
      const intent: Intent = {
        id: `pi_${randomBytes(12).toString('hex')}`,
        object: 'payment_intent',
        amount: Number(form.amount),
        currency: form.currency,
        status: 'requires_confirmation',
        payment_method: pm,
        metadata: Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v])),
        latest_charge: null,
        last_payment_error: null,
        created: Math.floor(Date.now() / 1000),
        livemode: false,
      };
      intents.set(intent.id, intent);
      return { status: 200, body: intent };
    }
    if (endpoint === 'refund') {
      // As Stripe: a succeeded intent's charge, at most what is left of it.
      const charged = intents.get(form.payment_intent);
      if (!charged) return { status: 400, body: error(400, 'invalid_request_error', `No such payment_intent: '${form.payment_intent}'`, { code: 'resource_missing' }) };
      if (charged.status !== 'succeeded') {
        return { status: 400, body: error(400, 'invalid_request_error', `This PaymentIntent does not have a successful charge to refund.`, { code: 'charge_not_refundable' }) };
      }
      const left = charged.amount - refunds.filter((r) => r.intentId === charged.id).reduce((n, r) => n + r.amount, 0);
      if (left <= 0) return { status: 400, body: error(400, 'invalid_request_error', `Charge ${charged.latest_charge} has already been refunded.`, { code: 'charge_already_refunded' }) };
      const amount = form.amount ? Number(form.amount) : left;
      if (amount > left) return { status: 400, body: error(400, 'invalid_request_error', `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`, { code: 'amount_too_large' }) };
      const refund = { id: `re_${randomBytes(12).toString('hex')}`, intentId: charged.id, amount, idempotencyKey: key ?? '' };
      refunds.push(refund);
      return { status: 200, body: { id: refund.id, object: 'refund', amount, currency: charged.currency, payment_intent: charged.id, charge: charged.latest_charge, status: 'succeeded' } };
    }
    const intent = id ? intents.get(id) : undefined;
    if (!intent) return { status: 404, body: error(404, 'invalid_request_error', `No such payment_intent: '${id}'`, { code: 'resource_missing' }) };
    if (endpoint === 'retrieve') return { status: 200, body: form.expand === 'latest_charge' && intent.latest_charge ? { ...intent, latest_charge: chargeOf(intent) } : intent };
    if (endpoint === 'cancel') {
      if (intent.status === 'succeeded') {
        return { status: 400, body: error(400, 'invalid_request_error', 'This PaymentIntent could not be canceled because it has a status of succeeded.', { code: 'payment_intent_unexpected_state' }) };
      }
      intent.status = 'canceled';
      return { status: 200, body: intent };
    }
    // confirm
    if (intent.status !== 'requires_confirmation') {
      return {
        status: 400,
        body: error(400, 'invalid_request_error', `This PaymentIntent's status is ${intent.status}.`, { code: 'payment_intent_unexpected_state', payment_intent: intent }),
      };
    }
    const decline = DECLINES[intent.payment_method];
    if (decline) {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: decline, message: 'Your card was declined.' };
      return { status: 402, body: error(402, 'card_error', 'Your card was declined.', { code: 'card_declined', decline_code: decline, payment_intent: intent }) };
    }
    intent.status = 'succeeded';
    intent.latest_charge = `ch_${randomBytes(12).toString('hex')}`;
    charges.push({ intentId: intent.id, amount: intent.amount, currency: intent.currency, idempotencyKey: key ?? '' });
    return { status: 200, body: intent };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.headers.authorization !== `Bearer ${opts.secretKey}`) {
      return send(res, 401, error(401, 'invalid_request_error', 'Invalid API Key provided'));
    }
    const url = new URL(req.url ?? '/', 'http://stripe.test');
    let m: RegExpExecArray | null;
    let endpoint: StripeEndpoint;
    let id: string | undefined;
    if (req.method === 'POST' && url.pathname === '/v1/payment_intents') endpoint = 'create';
    else if (req.method === 'POST' && url.pathname === '/v1/refunds') endpoint = 'refund';
    else if (req.method === 'GET' && (m = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname))) [endpoint, id] = ['retrieve', m[1]];
    else if (req.method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/(confirm|cancel)$/.exec(url.pathname))) [endpoint, id] = [m[2] as StripeEndpoint, m[1]];
    else return send(res, 404, error(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${url.pathname})`));
    const key = req.headers['idempotency-key'] as string | undefined;
    requests.push({ endpoint, idempotencyKey: key });

    const i = faults.findIndex((f) => f.endpoint === endpoint || f.endpoint === '*');
    let fault: Fault | undefined;
    if (i >= 0 && faults[i].skip > 0) faults[i].skip--;
    else if (i >= 0) fault = faults.splice(i, 1)[0].fault;
    if (fault?.kind === '500') return send(res, 500, error(500, 'api_error', 'Something went wrong on our end.'));
    if (fault?.kind === 'drop') return later(fault.ms, () => req.socket.destroy());

    const form = parseForm(raw);
    // GET parameters come in the query (`expand[0]=latest_charge`).
    for (const [k, v] of url.searchParams) if (k.startsWith('expand')) form.expand = v;
    const params = `${req.method} ${url.pathname} ${[...new URLSearchParams(raw)].map(([k, v]) => `${k}=${v}`).sort().join('&')}`;
    if (key && req.method === 'POST') {
      if (inFlight.has(key)) {
        return send(res, 409, error(409, 'idempotency_error', 'There is currently another in-progress request using this Stripe-Idempotency-Key.'));
      }
      const prior = saved.get(key);
      if (prior) {
        if (prior.params !== params) {
          return send(res, 400, error(400, 'idempotency_error', 'Keys for idempotent requests can only be used with the same parameters they were first used with.'));
        }
        return send(res, prior.status, prior.body);
      }
    }
    const out = process(endpoint, id, form, key);
    if (key && req.method === 'POST') saved.set(key, { params, ...structuredClone(out) });
    if (fault?.kind === 'slow') {
      if (key) inFlight.add(key);
      return later(fault.ms, () => {
        if (key) inFlight.delete(key);
        send(res, out.status, out.body);
      });
    }
    send(res, out.status, out.body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, error(500, 'api_error', String(err))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const signer = new Stripe(opts.secretKey);

  return {
    url: `http://127.0.0.1:${port}`,
    charges,
    refunds,
    requests,
    intents,
    chargeOf(intentId) {
      const intent = intents.get(intentId);
      if (!intent?.latest_charge) throw new Error(`no charge for ${intentId}`);
      return chargeOf(intent);
    },
    fault(endpoint, fault, times = 1, skip = 0) {
      for (let n = 0; n < times; n++) faults.push({ endpoint, fault, skip });
    },
    async signEvent(type, intent, o = {}) {
      const payload = JSON.stringify({
        id: o.id ?? `evt_${randomBytes(12).toString('hex')}`,
        object: 'event',
        type,
        api_version: '2026-10-28.endive',
        created: Math.floor(Date.now() / 1000),
        livemode: false,
        data: { object: intent },
      });
      const header = await signer.webhooks.generateTestHeaderStringAsync({ payload, secret: o.secret ?? opts.webhookSecret });
      return { body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': header } };
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
