// Helpers for live-update tests: real server processes, a private redis-server, real clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signToken } from '../../src/auth.js';
import { TEST_SECRET } from './harness.js';

export const ROOT = new URL('../..', import.meta.url).pathname;

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface ServerProcess {
  port: number;
  url: string;
  proc: ChildProcess;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code and how long it took. */
  term(): Promise<{ code: number | null; ms: number }>;
  kill(): void;
}

/** Starts `src/index.ts` in its own Node process and waits until it listens. */
export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      HOST: '127.0.0.1',
      // One test process plays every shopper from one IP: rate limits have their own tests.
      RATE_LIMIT: 'off',
      AUTH_JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: 'info',
      ROLE: 'api',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in 150 s:\n${out}`));
    }, 150_000);
    const check = () => {
      const m = /"url":"http:\/\/localhost:(\d+)\/graphql"/.exec(out) ?? (env.ROLE === 'worker' && /flashsale worker running/.test(out) ? ['', '0'] : null);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`server exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    proc,
    output: () => out,
    async term() {
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const code = await exited;
      return { code, ms: Date.now() - t0 };
    },
    kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

export function wsClient(port: number, token?: string): Client {
  return createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

export interface Collected<T> {
  values: T[];
  errors: unknown[];
  done: Promise<'complete' | 'error'>;
  /** Resolves when `pred` holds for a value received (now or later). */
  until(pred: (v: T) => boolean, timeoutMs?: number): Promise<T>;
  stop(): void;
}

/** Subscribes and records every value; `done` settles on complete or error. */
export function collect<T>(client: Client, query: string, variables?: Record<string, unknown>): Collected<T> {
  const values: T[] = [];
  const errors: unknown[] = [];
  const waiters: { pred: (v: T) => boolean; resolve: (v: T) => void }[] = [];
  let finish!: (how: 'complete' | 'error') => void;
  const done = new Promise<'complete' | 'error'>((r) => (finish = r));
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (m) => {
        if (m.errors) errors.push(m.errors);
        if (!m.data) return;
        const v = m.data as T;
        values.push(v);
        for (const w of [...waiters]) {
          if (w.pred(v)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(v);
          }
        }
      },
      error: (e) => {
        errors.push(e);
        finish('error');
      },
      complete: () => finish('complete'),
    },
  );
  return {
    values,
    errors,
    done,
    stop,
    until(pred, timeoutMs = 20_000) {
      const hit = values.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out; saw ${JSON.stringify(values.slice(-5))} errors ${JSON.stringify(errors)}`)), timeoutMs);
        waiters.push({ pred, resolve: (v) => (clearTimeout(t), resolve(v)) });
      });
    },
  };
}

/** Reads an SSE subscription until it ends; returns the data payloads and whether it completed. */
export async function sse(url: string, query: string, variables?: Record<string, unknown>, token?: string, onData?: (d: any) => void) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const data: any[] = [];
  let completed = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (/^event: complete/m.test(block)) completed = true;
      const d = /^data: (.*)$/m.exec(block);
      if (d && d[1]) {
        const parsed = JSON.parse(d[1]);
        data.push(parsed);
        onData?.(parsed);
      }
    }
  }
  return { status: res.status, data, completed };
}

/** GraphQL over HTTP against a real port. */
export async function httpGql(url: string, query: string, variables?: Record<string, unknown>, token?: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: any[] };
}

export const STOCK = `subscription($id: ID!) { stockChanged(productId: $id) { productId availableQuantity reservedQuantity soldOut } }`;
export const COUNTDOWN = `subscription($id: ID!) { reservationCountdown(reservationId: $id) { secondsLeft reservation { id status } } }`;
export const ORDER = `subscription($id: ID!) { orderStatusChanged(orderId: $id) { id status } }`;

/** Creates a product on sale since a minute ago (10.00 USD, one per shopper) through a server's API, as an admin. */
export async function createSaleProduct(url: string, id: string, totalQuantity: number, reservationTtlSeconds = 300) {
  const res = await httpGql(
    url,
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    {
      input: {
        id,
        name: 'Drop',
        priceAmount: 1000,
        currency: 'USD',
        totalQuantity,
        sale: { startsAt: new Date(Date.now() - 60_000).toISOString(), perUserLimit: 1, reservationTtlSeconds },
      },
    },
    await signToken(TEST_SECRET, { sub: 'operator', roles: ['admin'] }),
  );
  if (res.errors) throw new Error(JSON.stringify(res.errors));
}
