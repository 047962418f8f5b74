// HTTPS and WSS with a self-signed certificate made here with the openssl CLI, on a
// real port: GraphQL over HTTPS, REST, security headers with HSTS, a subscription over WSS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, buildApp } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import type { FastPathStats } from '../src/http/fast-path.js';
import { type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';

let h: Harness;
let app: App;
let port: number;
let cert: Buffer;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-keyout', keyFile, '-out', certFile,
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  cert = readFileSync(certFile);
  // The same path the server takes: TLS_CERT_FILE / TLS_KEY_FILE through the config.
  const config = loadConfig({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, RATE_LIMIT: 'off' });
  h = await harness('embedded');
  app = buildApp(h.backend.runtime.deps, {
    verifier: createVerifier({ secret: TEST_SECRET }),
    security: config.security,
    tls: { cert: readFileSync(config.security.tlsCertFile!), key: readFileSync(config.security.tlsKeyFile!) },
  });
  port = await app.start(0, '127.0.0.1');
}, 180_000); // PGlite start-up is slow on a loaded machine
afterAll(async () => {
  await app?.stop();
  await h?.close();
});

function https(path: string, body?: unknown, trust: 'ours' | 'system' = 'ours'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET', ca: trust === 'ours' ? cert : undefined, servername: 'localhost', agent: false, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

it('serves GraphQL and REST over HTTPS with HSTS and the other security headers', async () => {
  const { id } = await h.product({ totalQuantity: 7 });
  const g = await https('/graphql', { query: `query($id: ID!) { inventory(productId: $id) { availableQuantity } }`, variables: { id } });
  expect(g.status).toBe(200);
  expect(g.body.data.inventory.availableQuantity).toBe(7);
  expect(g.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  expect(g.headers['x-content-type-options']).toBe('nosniff');
  const r = await https(`/inventory/${id}`);
  expect(r.body.available_quantity).toBe(7);
  expect(r.headers['strict-transport-security']).toMatch(/max-age/);
  // Both were answered by the fast path (the default), which adds HSTS over TLS as Yoga does.
  expect((app.server.listeners('request')[0] as unknown as { stats: FastPathStats }).stats.fast).toBeGreaterThanOrEqual(2);
});

it('refuses a client that does not trust the certificate, and plain HTTP on the TLS port', async () => {
  await expect(https('/health', undefined, 'system')).rejects.toThrow(/self[- ]signed|certificate/i);
  const plain = await fetch(`http://127.0.0.1:${port}/health`).then(
    (r) => r.status,
    () => 'refused',
  );
  expect(plain === 'refused' || plain === 400).toBe(true);
});

it('streams a subscription over WSS, every update after the first too (shared frames written to the TLS handle)', async () => {
  const { id } = await h.product({ totalQuantity: 3 });
  const client = createClient({
    url: `wss://127.0.0.1:${port}/graphql`,
    webSocketImpl: class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca: cert });
      }
    },
    retryAttempts: 0,
    lazy: true,
  });
  try {
    const seen: number[] = [];
    let failed: unknown;
    const stop = client.subscribe(
      { query: `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }`, variables: { id } },
      { next: (v: any) => seen.push(v.data.stockChanged.availableQuantity), error: (e) => (failed = e), complete: () => {} },
    );
    await expect.poll(() => seen.length, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(seen[0]).toBe(3);
    for (const left of [2, 1, 0]) {
      expect((await h.gql(RESERVE, { input: { productId: id } }, await h.token(`tls-${left}`))).data.reserve.__typename).toBe('ReserveSuccess');
      await expect.poll(() => seen.at(-1), { timeout: 30_000 }).toBe(left);
    }
    expect(failed).toBeUndefined();
    stop();
  } finally {
    await client.dispose();
  }
});
