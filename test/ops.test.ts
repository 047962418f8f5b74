// Operations: /health, /ready, /metrics, request ids, saleStats, load shedding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { defaultOpsConfig } from '../src/ops/config.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE, TEST_SECRET } from './support/harness.js';

const STATS = /* GraphQL */ `
  query($id: ID!) { saleStats(productId: $id) { productId totalQuantity availableQuantity reservedQuantity soldQuantity revenue { amount currency } reserveAttemptsPerSecond at } }
`;

describe('operations on postgres+redis', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('postgres+redis');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers /health and /ready with every dependency checked', async () => {
    const health = await h.app.fetch('http://test/health');
    expect(health.status).toBe(200);
    // Yoga's health check: alive, nothing checked, nothing to read (docs/operations.md).
    expect(await health.text()).toBe('');
    const ready = await h.app.fetch('http://test/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', migrations: 'ok' } });
  });

  it('sends the request id back and exports Prometheus metrics for what happened', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const shopper = await h.token('metrics-shopper');
    const res = await h.app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper}`, 'x-request-id': 'trace-me-123' },
      body: JSON.stringify({ query: RESERVE, variables: { input: { productId: id } } }),
    });
    expect(res.headers.get('x-request-id')).toBe('trace-me-123');
    expect((await res.json()).data.reserve.__typename).toBe('ReserveSuccess');
    const again = await h.gql(RESERVE, { input: { productId: id } }, shopper);
    expect(again.data.reserve.__typename).toBe('LimitExceeded');
    const metrics = await h.app.fetch('http://test/metrics');
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('flashsale_requests_total{operation="mutation reserve",outcome="ok"} 2');
    expect(text).toContain('flashsale_reserve_outcomes_total{outcome="ReserveSuccess"} 1');
    expect(text).toContain('flashsale_reserve_outcomes_total{outcome="LimitExceeded"} 1');
    expect(text).toContain(`flashsale_stock{product_id="${id}",state="available"} 4`);
    expect(text).toContain(`flashsale_stock{product_id="${id}",state="reserved"} 1`);
    expect(text).toMatch(/flashsale_request_duration_seconds_count\{operation="mutation reserve"\} 2/);
    for (const name of ['flashsale_outbox_depth', 'flashsale_outbox_dead_letters', 'flashsale_subscribers', 'flashsale_shed_requests_total', 'flashsale_gate_up 1', 'flashsale_reservations']) {
      expect(text).toContain(name);
    }
  });

  it('shows an operator the live figures of a sale, and only an operator', async () => {
    const { id } = await h.product({ totalQuantity: 10, priceAmount: 2500 });
    const shopper = await h.token('stats-shopper');
    const denied = await h.gql(STATS, { id }, shopper);
    expect(denied.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const r = await h.gql(RESERVE, { input: { productId: id } }, shopper);
    const cartId = r.data.reserve.reservation.cartId;
    const co = await h.gql(CHECKOUT, { input: { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
    const orderId = co.data.checkout.order.id;
    const paid = await h.gql(PAY, { input: { orderId, paymentMethod: 'pm_card_visa', amount: 2500 } }, shopper);
    expect(paid.data.pay.__typename).toBe('PaySuccess');
    await h.gql(RESERVE, { input: { productId: id } }, await h.token('stats-other'));
    // Attempts are counted per whole second; wait for the current one to close.
    await new Promise((res) => setTimeout(res, 1100));
    const stats = await h.gql(STATS, { id }, await h.admin());
    expect(stats.errors).toBeUndefined();
    const s = stats.data.saleStats;
    expect(s).toMatchObject({ productId: id, totalQuantity: 10, availableQuantity: 8, reservedQuantity: 1, soldQuantity: 1, revenue: { amount: 2500, currency: 'USD' } });
    expect(s.reserveAttemptsPerSecond).toBeGreaterThan(0);
    expect((await h.gql(STATS, { id: 'no-such-product' }, await h.admin())).data.saleStats).toBeNull();
  });
});

describe('load shedding', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('postgres+redis');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('sheds reads and reserves first, keeps checkout and pay, and never hangs', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const shopper = await h.token('shed-shopper');
    const r = await h.gql(RESERVE, { input: { productId: id } }, shopper);
    const cartId = r.data.reserve.reservation.cartId;
    // A bound of one in-flight request: a lone read or reserve is already past its share.
    const app = buildApp(h.backend.runtime.deps, {
      verifier: createVerifier({ secret: TEST_SECRET }),
      ops: { config: { ...defaultOpsConfig(), shedding: true, shedMaxInFlight: 1, shedRetryAfterSeconds: 2 } },
    });
    try {
      const inv = await app.fetch(`http://test/inventory/${id}`);
      expect(inv.status).toBe(503);
      expect(inv.headers.get('retry-after')).toBe('2');
      expect((await inv.json()).error.code).toBe('UNAVAILABLE');
      const post = (query: string, variables: unknown) =>
        app.fetch('http://test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${shopper}` },
          body: JSON.stringify({ query, variables }),
        });
      const shedReserve = await post(RESERVE, { input: { productId: id } });
      expect(shedReserve.headers.get('retry-after')).toBe('2');
      const body = await shedReserve.json();
      expect(body.errors[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      expect(body.data ?? null).toBeNull();
      const co = await (await post(CHECKOUT, { input: { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } })).json();
      expect(co.data.checkout.__typename).toBe('CheckoutSuccess');
      expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 1, sold: 0 });
      const text = await (await app.fetch('http://test/metrics')).text();
      expect(text).toContain('flashsale_shed_requests_total{priority="read"} 1');
      expect(text).toContain('flashsale_shed_requests_total{priority="reserve"} 1');
      expect(text).toContain('flashsale_shed_requests_total{priority="critical"} 0');
    } finally {
      await app.stop().catch(() => {});
    }
  });
});

describe('load shedding after start-up', () => {
  it('does not shed the first requests for the time start-up held the event loop', async () => {
    const { LoadShedder } = await import('../src/ops/shedding.js');
    const shedder = new LoadShedder({ enabled: true, maxInFlight: 1000, maxLagMs: 100, retryAfterSeconds: 1 });
    try {
      // Start-up work that holds the event loop again and again (migrations, loading the
      // gate), until a measuring window has seen it: it shows as lag, and reads would be shed.
      for (let i = 0; i < 40 && shedder.lagMs <= 50; i++) {
        const until = Date.now() + 120;
        while (Date.now() < until);
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(shedder.lagMs).toBeGreaterThan(50);
      expect(shedder.shouldShed('read')).toBe(true);
      // The server starts listening: what start-up cost is forgotten.
      shedder.forgetLag();
      expect(shedder.lagMs).toBe(0);
      expect(shedder.shouldShed('read')).toBe(false);
    } finally {
      shedder.stop();
    }
  });
});

describe('request metrics', () => {
  it('export exactly what prom-client’s own counter and histogram export for the same requests', async () => {
    const { Counter, Histogram, Registry } = await import('prom-client');
    const { LatencyHistogram, Tally } = await import('../src/ops/metrics.js');
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    const latency = new LatencyHistogram('t_seconds', 'latency', buckets, [ours]);
    const histogram = new Histogram({ name: 't_seconds', help: 'latency', labelNames: ['operation'], buckets, registers: [theirs] });
    const tally = new Tally({ name: 't_total', help: 'requests', labelNames: ['operation', 'outcome'], registers: [ours] });
    const counter = new Counter({ name: 't_total', help: 'requests', labelNames: ['operation', 'outcome'], registers: [theirs] });
    const seen = [
      ['query inventory', 'ok', 0.003],
      ['mutation reserve', 'ok', 0.2],
      ['REST "odd" name', 'error', 12],
      ['query inventory', 'ok', 0.005],
      ['mutation reserve', 'shed', 0.05],
    ] as const;
    const record = ([operation, outcome, seconds]: (typeof seen)[number]) => {
      latency.observe(operation, seconds);
      histogram.observe({ operation }, seconds);
      tally.inc(`${operation}\u0000${outcome}`, () => ({ operation, outcome }));
      counter.inc({ operation, outcome });
    };
    seen.forEach(record);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // Scraped again after more requests: the counts go on from where they were.
    record(seen[0]);
    record(seen[2]);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('t_total{operation="query inventory",outcome="ok"} 3');
    expect(text).toContain('t_seconds_count{operation="query inventory"} 3');
  });
});
