// Throwaway resources on the local machine, for the tests and the benchmarks alike: a free
// loopback port, and a fresh database on a Postgres server (dropped afterwards).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import postgres from 'postgres';

export const uniqueName = (stem: string) => `${stem}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh database named after `stem` on the server `adminUrl` points at; `drop()` removes it. */
export async function scratchDatabase(adminUrl: string, stem: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(stem);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await a.end();
    },
  };
}
