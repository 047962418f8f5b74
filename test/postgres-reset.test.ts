// A pool connection that meets a network error by itself (ECONNRESET: a proxy or a load balancer
// resetting it) while a caller retries at once: the retry must settle, not wait forever.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresWatchdog } from '../src/adapters/db/watchdog.js';
import { PG_ADMIN_URL } from './support/backends.js';

describe('a pool connection reset under a query', () => {
  let proxy: Server;
  let port = 0;
  const clients = new Set<Socket>();
  beforeAll(async () => {
    const target = new URL(PG_ADMIN_URL);
    proxy = createServer((client) => {
      clients.add(client);
      const server = connect(Number(target.port || 5432), target.hostname);
      client.pipe(server).pipe(client);
      const end = () => {
        clients.delete(client);
        client.destroy();
        server.destroy();
      };
      client.on('error', end).on('close', end);
      server.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    port = (proxy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await new Promise((r) => proxy.close(r));
  });

  it('fails or serves a query handed to the connection between its error and its close', async () => {
    const url = new URL(PG_ADMIN_URL);
    url.host = `127.0.0.1:${port}`;
    const dog = new PostgresWatchdog({ url: url.toString(), timeoutMs: 60_000, intervalMs: 60_000 });
    const sql = postgres(url.toString(), { max: 1, connect_timeout: 5, onnotice: () => {}, ...({ socket: dog.socket, backoff: dog.backoff } as object) });
    try {
      await sql`select 1`;
      let retry: Promise<unknown> | undefined;
      const first = sql`select pg_sleep(3)`.catch((err: Error) => {
        // The caller retries at once, on the pool whose only connection just failed.
        retry = sql`select 2 as n`.then(
          (rows) => ({ ok: rows[0].n }),
          (e: Error & { code?: string }) => ({ failed: e.code ?? e.message }),
        );
        return err;
      });
      await new Promise((r) => setTimeout(r, 300)); // the sleep is on the wire
      expect(clients.size).toBe(1);
      for (const c of clients) c.resetAndDestroy();
      expect(((await first) as Error & { code?: string }).code).toBe('ECONNRESET');
      const settled = await Promise.race([retry!, new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5_000))]);
      // Never sent: it fails at once as a closed connection (retryable), and the next query is served.
      expect(settled).toEqual({ failed: 'CONNECTION_CLOSED' });
      expect((await sql`select 3 as n`)[0].n).toBe(3);
    } finally {
      await sql.end({ timeout: 1 });
      await dog.stop();
    }
  }, 30_000);
});
