// A small stand-in for the PayPal REST endpoints the adapter uses (OAuth token,
// Orders v2 create/capture/get), at the network boundary: the official
// @paypal/paypal-server-sdk talks HTTP to it. PayPal-Request-Id is honoured like PayPal
// does (the same id returns the first answer) and every capture is recorded.
import { execFileSync } from 'node:child_process';
import { randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type PayPalEndpoint = 'create' | 'capture' | 'get' | 'refund';
export type PayPalFault = { kind: '500' } | { kind: 'drop'; ms: number } | { kind: 'slow'; ms: number };

interface PayPalOrder {
  id: string;
  intent: string;
  status: 'CREATED' | 'COMPLETED';
  create_time: string;
  purchase_units: {
    reference_id?: string;
    custom_id?: string;
    invoice_id?: string;
    amount: { currency_code: string; value: string };
    payments?: { captures: { id: string; status: 'COMPLETED' | 'DECLINED' | 'REFUNDED' | 'PARTIALLY_REFUNDED'; amount: { currency_code: string; value: string }; processor_response?: { response_code: string } }[] };
  }[];
}

const DECLINED = new Set(['pm_card_chargeDeclined', 'pm_card_chargeDeclinedInsufficientFunds']);

export interface FakePayPal {
  url: string;
  charges: { orderId: string; captureId: string; value: string; currency: string; requestId: string }[];
  /** Refunds made (POST /v2/payments/captures/{id}/refund). */
  refunds: { refundId: string; captureId: string; value: string; currency: string; requestId: string }[];
  requests: { endpoint: PayPalEndpoint; requestId?: string }[];
  tokensIssued: number;
  /**
   * A webhook delivery as PayPal sends it: SHA256withRSA over
   * `<transmission id>|<time>|<webhook id>|<crc32(body)>`, with PAYPAL-CERT-URL pointing at
   * this server's certificate. `key: 'other'` signs with a key that is not the certificate's.
   */
  signEvent(eventType: string, resource: Record<string, unknown>, opts: { webhookId: string; key?: 'other'; id?: string }): { body: string; headers: Record<string, string> };
  fault(endpoint: PayPalEndpoint | '*', fault: PayPalFault, times?: number): void;
  close(): Promise<void>;
}

/** A throwaway RSA key and self-signed certificate (the machine's openssl), like PayPal's signing certificate. */
function makeSigningCert(): { key: string; cert: string; otherKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fake-paypal-'));
  try {
    const args = (k: string, c: string) => ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, k), '-out', join(dir, c), '-days', '2', '-subj', '/CN=messageverificationcerts.paypal.com'];
    execFileSync('openssl', args('key.pem', 'cert.pem'), { stdio: 'ignore' });
    execFileSync('openssl', args('other.pem', 'other-cert.pem'), { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), otherKey: readFileSync(join(dir, 'other.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startFakePayPal(opts: { clientId: string; clientSecret: string }): Promise<FakePayPal> {
  const signing = makeSigningCert();
  const orders = new Map<string, PayPalOrder>();
  const saved = new Map<string, { status: number; body: unknown }>();
  const faults: { endpoint: PayPalEndpoint | '*'; fault: PayPalFault }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const tokens = new Set<string>();
  const state: FakePayPal = {
    url: '',
    charges: [],
    refunds: [],
    requests: [],
    tokensIssued: 0,
    fault(endpoint, fault, times = 1) {
      for (let n = 0; n < times; n++) faults.push({ endpoint, fault });
    },
    signEvent(eventType, resource, o) {
      const body = JSON.stringify({
        id: o.id ?? `WH-${randomBytes(8).toString('hex').toUpperCase()}`,
        event_version: '1.0',
        create_time: new Date().toISOString(),
        resource_type: 'capture',
        event_type: eventType,
        summary: eventType,
        resource,
      });
      const transmissionId = randomBytes(16).toString('hex');
      const time = new Date().toISOString();
      const message = `${transmissionId}|${time}|${o.webhookId}|${crc32(Buffer.from(body)) >>> 0}`;
      const sig = sign('sha256', Buffer.from(message), o.key === 'other' ? signing.otherKey : signing.key).toString('base64');
      return {
        body,
        headers: {
          'content-type': 'application/json',
          'paypal-transmission-id': transmissionId,
          'paypal-transmission-time': time,
          'paypal-transmission-sig': sig,
          'paypal-cert-url': `${state.url}/v1/notifications/certs/CERT-fake`,
          'paypal-auth-algo': 'SHA256withRSA',
        },
      };
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'paypal-debug-id': randomBytes(6).toString('hex') });
    res.end(JSON.stringify(body));
  };

  function process(endpoint: PayPalEndpoint, id: string | undefined, body: any, requestId: string): { status: number; body: unknown } {
    if (endpoint === 'create') {
      const order: PayPalOrder = {
        id: randomBytes(8).toString('hex').toUpperCase(),
        intent: body.intent,
        status: 'CREATED',
        create_time: new Date().toISOString(),
        purchase_units: body.purchase_units.map((u: any) => ({ reference_id: u.reference_id, custom_id: u.custom_id, invoice_id: u.invoice_id, amount: u.amount })),
      };
      orders.set(order.id, order);
      return { status: 201, body: order };
    }
    if (endpoint === 'refund') {
      // As PayPal: a completed capture, refunded in full once (the amount must not exceed it).
      const captured = state.charges.find((c) => c.captureId === id);
      if (!captured) return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: 'The specified resource does not exist.', details: [{ issue: 'INVALID_RESOURCE_ID' }] } };
      if (state.refunds.some((r) => r.captureId === id)) {
        return { status: 422, body: { name: 'UNPROCESSABLE_ENTITY', message: 'The requested action could not be performed.', details: [{ issue: 'CAPTURE_FULLY_REFUNDED', description: 'The capture has already been fully refunded.' }] } };
      }
      const value = body?.amount?.value ?? captured.value;
      if (Number(value) > Number(captured.value) || (body?.amount && body.amount.currency_code !== captured.currency)) {
        return { status: 422, body: { name: 'UNPROCESSABLE_ENTITY', message: 'The requested action could not be performed.', details: [{ issue: 'REFUND_AMOUNT_EXCEEDED' }] } };
      }
      const refundId = randomBytes(8).toString('hex').toUpperCase();
      state.refunds.push({ refundId, captureId: id!, value, currency: captured.currency, requestId });
      // As PayPal: the capture (in its order too) shows the refund.
      const capture = orders.get(captured.orderId)?.purchase_units[0].payments?.captures.find((c) => c.id === id);
      if (capture) capture.status = Number(value) < Number(captured.value) ? 'PARTIALLY_REFUNDED' : 'REFUNDED';
      return { status: 201, body: { id: refundId, status: 'COMPLETED', amount: { currency_code: captured.currency, value } } };
    }
    const order = id ? orders.get(id) : undefined;
    if (!order) return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', message: 'The specified resource does not exist.', details: [{ issue: 'INVALID_RESOURCE_ID' }] } };
    if (endpoint === 'get') return { status: 200, body: order };
    if (order.status === 'COMPLETED') {
      return { status: 422, body: { name: 'UNPROCESSABLE_ENTITY', message: 'The requested action could not be performed.', details: [{ issue: 'ORDER_ALREADY_CAPTURED', description: 'Order already captured.' }] } };
    }
    const vault = body?.payment_source?.card?.vault_id;
    if (!vault) return { status: 422, body: { name: 'UNPROCESSABLE_ENTITY', message: 'No payment source', details: [{ issue: 'ORDER_NOT_APPROVED', description: 'Payer has not yet approved the Order for payment.' }] } };
    const unit = order.purchase_units[0];
    if (DECLINED.has(vault)) {
      return { status: 422, body: { name: 'UNPROCESSABLE_ENTITY', message: 'The requested action could not be performed.', details: [{ issue: 'INSTRUMENT_DECLINED', description: 'The instrument presented was declined.' }] } };
    }
    const capture = { id: randomBytes(8).toString('hex').toUpperCase(), status: 'COMPLETED' as const, amount: unit.amount };
    unit.payments = { captures: [capture] };
    order.status = 'COMPLETED';
    state.charges.push({ orderId: order.id, captureId: capture.id, value: unit.amount.value, currency: unit.amount.currency_code, requestId });
    return { status: 201, body: order };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://paypal.test');
    if (req.method === 'GET' && url.pathname === '/v1/notifications/certs/CERT-fake') {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      return res.end(signing.cert);
    }
    if (req.method === 'POST' && url.pathname === '/v1/oauth2/token') {
      const basic = `Basic ${Buffer.from(`${opts.clientId}:${opts.clientSecret}`).toString('base64')}`;
      if (req.headers.authorization !== basic) return send(res, 401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
      const token = `A21AA${randomBytes(16).toString('hex')}`;
      tokens.add(token);
      state.tokensIssued++;
      return send(res, 200, { scope: 'https://uri.paypal.com/services/payments/payment', access_token: token, token_type: 'Bearer', app_id: 'APP-FAKE', expires_in: 32400, nonce: 'n' });
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !tokens.has(bearer)) return send(res, 401, { error: 'invalid_token', error_description: 'Token signature verification failed' });
    let m: RegExpExecArray | null;
    let endpoint: PayPalEndpoint;
    let id: string | undefined;
    if (req.method === 'POST' && url.pathname === '/v2/checkout/orders') endpoint = 'create';
    else if (req.method === 'POST' && (m = /^\/v2\/checkout\/orders\/([^/]+)\/capture$/.exec(url.pathname))) [endpoint, id] = ['capture', m[1]];
    else if (req.method === 'GET' && (m = /^\/v2\/checkout\/orders\/([^/]+)$/.exec(url.pathname))) [endpoint, id] = ['get', m[1]];
    else if (req.method === 'POST' && (m = /^\/v2\/payments\/captures\/([^/]+)\/refund$/.exec(url.pathname))) [endpoint, id] = ['refund', m[1]];
    else return send(res, 404, { name: 'NOT_FOUND', message: `${req.method} ${url.pathname}` });
    const requestId = req.headers['paypal-request-id'] as string | undefined;
    state.requests.push({ endpoint, requestId });
    const i = faults.findIndex((f) => f.endpoint === endpoint || f.endpoint === '*');
    const fault = i >= 0 ? faults.splice(i, 1)[0].fault : undefined;
    if (fault?.kind === '500') return send(res, 500, { name: 'INTERNAL_SERVER_ERROR', message: 'An internal server error occurred.' });
    if (fault?.kind === 'drop') return later(fault.ms, () => req.socket.destroy());
    if (requestId && req.method === 'POST') {
      const prior = saved.get(requestId);
      if (prior) return send(res, prior.status, prior.body);
    }
    const out = process(endpoint, id, raw ? JSON.parse(raw) : undefined, requestId ?? '');
    if (requestId && req.method === 'POST') saved.set(requestId, structuredClone(out));
    if (fault?.kind === 'slow') return later(fault.ms, () => send(res, out.status, out.body));
    send(res, out.status, out.body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, { name: 'INTERNAL_SERVER_ERROR', message: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
