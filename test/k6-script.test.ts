// k6 is not installed here, so the k6 scenario is kept correct by type-checking it against @types/k6.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

describe('clients/load/k6/flash-sale.js', () => {
  it('type-checks against @types/k6', async () => {
    const root = resolve(import.meta.dirname, '..');
    const out = await promisify(execFile)(process.execPath, [tsc, '-p', 'clients/load/k6'], { cwd: root }).catch((e) => e);
    expect(`${out.stdout ?? ''}${out.stderr ?? ''}`).toBe('');
  });
});
