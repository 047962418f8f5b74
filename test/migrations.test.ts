// Processes that start together on one database (api replicas and a worker on a new database,
// or a rolling deploy bringing a migration) must all come up: one migrates, the others wait.
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/adapters/db/client.js';
import { scratchDatabase } from './support/backends.js';

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

describe('migrations on Postgres', () => {
  it('four processes opening a new database at once all start, and the schema is migrated once', async () => {
    const db = await scratchDatabase();
    drops.push(db.drop);
    const opened = await Promise.allSettled(Array.from({ length: 4 }, () => openDatabase({ databaseUrl: db.url, maxConnections: 2 })));
    for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
    // Without the migration lock, concurrent CREATE TABLEs failed all but one of them.
    expect(opened.map((o) => (o.status === 'rejected' ? String((o.reason as Error).cause ?? o.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok', 'ok']);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      const [{ tables }] = await sql<{ tables: number }[]>`select count(*)::int as tables from information_schema.tables where table_schema = 'public' and table_name in ('products', 'reservations', 'orders')`;
      expect(tables).toBe(3);
      const journal = (await import('../drizzle/meta/_journal.json', { with: { type: 'json' } })).default as { entries: unknown[] };
      expect(n).toBe(journal.entries.length);
      // The lock is released with the migrator's connection: nobody holds it now.
      const held = await sql`select 1 from pg_locks l join pg_database d on d.oid = l.database where l.locktype = 'advisory' and d.datname = current_database()`;
      expect(held.length).toBe(0);
    } finally {
      await sql.end();
    }
  }, 60_000);
});
