// A process started while Postgres is not reachable yet (a deploy that starts everything at once, a
// database restarting) waits for it, retrying with backoff, instead of exiting: it serves once
// Postgres is up. It gives up after POSTGRES_STARTUP_WAIT_MS, and at once on a fault that waiting
// cannot fix (a database that does not exist). Postgres here is a cluster of the test's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL } from './support/backends.js';
import { TEST_SECRET } from './support/harness.js';
import { uniqueName } from './support/scratch.js';
import { runToExit, type ServerProcess, startServer } from './support/server.js';
import { type OwnPostgres, ownPostgres, waitFor } from './support/servers.js';

describe('Postgres not up when the process starts', () => {
  let pg: OwnPostgres;
  let server: ServerProcess | undefined;
  const env = () => ({ DATABASE_URL: pg.url, REDIS_URL, REDIS_PREFIX: `${uniqueName('pgstart')}:`, AUTH_JWT_SECRET: TEST_SECRET, ROLE: 'all' });
  beforeAll(async () => {
    pg = await ownPostgres();
    await pg.stop();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await pg?.destroy();
  });

  it('waits for it, saying so, and serves once it is up', async () => {
    let output = '';
    const starting = startServer({ ...env(), POSTGRES_STARTUP_WAIT_MS: '60000' }, { onOutput: (all) => (output = all) });
    starting.catch(() => {});
    // Refused twice or more: the process is still there, waiting.
    await waitFor(() => (output.match(/Postgres is not reachable yet/g) ?? []).length >= 2, 'the process waiting for Postgres', 30_000);
    expect(output).not.toMatch(/failed to start|flashsale API listening/);
    await pg.start();
    server = await starting;
    expect(server.output()).toMatch(/Postgres is up/);
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ products { id } }' }) });
    expect(await res.json()).toEqual({ data: { products: [] } });
  });

  it('gives up after POSTGRES_STARTUP_WAIT_MS when it never comes, with the reason', async () => {
    await pg.stop();
    const started = Date.now();
    const { code, output } = await runToExit({ ...env(), POSTGRES_STARTUP_WAIT_MS: '1500' });
    expect(code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(output).toMatch(/Postgres is not reachable yet/);
    expect(output).toMatch(/flashsale failed to start:[\s\S]*ECONNREFUSED/);
  });

  it('does not wait on a fault waiting cannot fix: a database that does not exist fails at once', async () => {
    await pg.start();
    const url = new URL(pg.url);
    url.pathname = '/no_such_database';
    const { code, output } = await runToExit({ ...env(), DATABASE_URL: url.toString(), POSTGRES_STARTUP_WAIT_MS: '60000' });
    expect(code).toBe(1);
    expect(output).not.toMatch(/Postgres is not reachable yet/);
    expect(output).toMatch(/database "no_such_database" does not exist/);
  });
});
