// A child process for test/process-guard.test.ts: postgres.js through a TCP proxy that, the first
// time the driver sends its array-types query (each new connection's first statement), answers
// as Postgres does when it is shut down (an ErrorResponse 57P01, then the socket closes). The
// driver drops that query's promise (porsager/postgres#1192): an unhandled rejection.
// GUARD=1 installs the process guard first; BOOM=1 also rejects a promise of its own afterwards.
// Prints each step; exits 0 if it lived to the end.
import { connect, createServer, type Socket } from 'node:net';
import pino from 'pino';
import postgres from 'postgres';
import { installProcessGuard } from '../../src/ops/process-guard.js';

if (process.env.GUARD === '1') installProcessGuard(pino());
const target = new URL(process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');

let cut = false;
const proxy = createServer((client: Socket) => {
  const server = connect(Number(target.port || 5432), target.hostname);
  client.on('data', (b) => {
    if (!cut && b.includes('pg_catalog.pg_type')) {
      cut = true;
      const fields = Buffer.from('SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0');
      const head = Buffer.alloc(5);
      head.write('E');
      head.writeInt32BE(fields.length + 4, 1);
      client.end(Buffer.concat([head, fields]));
      server.destroy();
      return;
    }
    server.write(b);
  });
  server.on('data', (b) => client.write(b));
  for (const s of [client, server]) s.on('error', () => {});
  client.on('close', () => server.destroy());
  server.on('close', () => client.destroy());
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
const { port } = proxy.address() as { port: number };
const url = new URL(target);
url.host = `127.0.0.1:${port}`;
const sql = postgres(url.toString(), { max: 1, connect_timeout: 5, onnotice: () => {} });

const run = (n: number) => sql`select ${n}::int as x`.then((r) => `ok ${r[0].x}`, (e: { code?: string; message: string }) => `failed ${e.code ?? e.message}`);
console.log(`first ${await run(1)}`);
await new Promise((r) => setTimeout(r, 200));
console.log(`second ${await run(2)}`);
if (process.env.BOOM === '1') {
  void Promise.reject(new Error('boom: a rejection of our own'));
  await new Promise((r) => setTimeout(r, 200));
}
await sql.end();
proxy.close();
console.log('alive');
