import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Used when the data lives nowhere on disk (memory:// tests, or a server database without DATA_DIR). */
export const FIXED_DEV_DATA_SECRET = 'flashsale-development-data-key-not-for-production';

/**
 * The embedded default's data-key secret when DATA_ENCRYPTION_KEY is unset: random,
 * kept beside the data in DATA_DIR (mode 0600), so data stays readable across restarts.
 */
export function devDataSecret(dataDir: string | undefined): string {
  if (!dataDir || dataDir.startsWith('memory://')) return FIXED_DEV_DATA_SECRET;
  const file = join(dataDir, 'dev-data-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
