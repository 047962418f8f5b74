// The process guard (src/ops/process-guard.ts) in a real child process with a real postgres.js
// and Postgres: a connection cut during the driver's own startup query (as when Postgres restarts)
// must not end the process; any other unhandled rejection still does.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PG_ADMIN_URL } from './support/backends.js';

const child = (env: Record<string, string>) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/support/pg-startup-cut.ts'], {
    env: { ...process.env, PG_URL: PG_ADMIN_URL, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
};

describe('process guard', () => {
  it('without it, the driver dropping its startup query ends the process (the bug is real)', () => {
    const r = child({ GUARD: '0' });
    expect(r.out).toContain('first failed 57P01');
    expect(r.out).not.toContain('alive');
    expect(r.status).not.toBe(0);
    expect(r.err).toMatch(/terminating connection due to administrator command/);
  });

  it('with it, the process logs a warning and serves the next query on a new connection', () => {
    const r = child({ GUARD: '1' });
    expect(r.out).toContain('first failed 57P01');
    expect(r.out).toContain('second ok 2');
    expect(r.out).toContain('alive');
    expect(r.out).toMatch(/"level":40.*startup query \(known driver bug\)/);
    expect(r.status).toBe(0);
  });

  it('with it, any other unhandled rejection still ends the process, logged', () => {
    const r = child({ GUARD: '1', BOOM: '1' });
    expect(r.out).toContain('second ok 2');
    expect(r.out).not.toContain('alive');
    expect(r.out).toMatch(/"level":60.*boom: a rejection of our own.*unhandled rejection; exiting/);
    expect(r.status).toBe(1);
  });
});
