import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Field encryption for personal data at rest: AES-256-GCM, a fresh 96-bit nonce per
 * value, the key id stored with each value so keys can rotate.
 *
 * Sealed form (a string, safe in a text column): `v1.<keyId>.<nonce b64url>.<ciphertext+tag b64url>`.
 * Every read and write of personal data goes through `seal`/`open`, so nothing
 * else in the code knows how it is stored.
 */
export interface Keyring {
  /** The key new values are sealed with. */
  currentId: string;
  keys: Map<string, Buffer>;
}

export class CryptoError extends Error {}

/**
 * Parses `DATA_ENCRYPTION_KEY`: one or more `id:base64key` entries separated by commas,
 * the first being current (e.g. `k2:...,k1:...` while rotating from k1 to k2). A bare
 * base64 key is taken as id `k1`. Each key must decode to 32 bytes.
 */
export function parseKeyring(raw: string): Keyring {
  const keys = new Map<string, Buffer>();
  let currentId = '';
  for (const [i, entry] of raw.split(',').map((s) => s.trim()).filter(Boolean).entries()) {
    const at = entry.indexOf(':');
    const id = at > 0 ? entry.slice(0, at) : 'k1';
    const key = Buffer.from(at > 0 ? entry.slice(at + 1) : entry, 'base64');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new CryptoError(`key id "${id}" must be 1-32 letters, digits, '_' or '-'`);
    if (key.length !== 32) throw new CryptoError(`key "${id}" must be 32 bytes, base64-encoded (got ${key.length})`);
    keys.set(id, key);
    if (i === 0) currentId = id;
  }
  if (!currentId) throw new CryptoError('DATA_ENCRYPTION_KEY holds no key');
  return { currentId, keys };
}

/**
 * The embedded default's key when DATA_ENCRYPTION_KEY is unset: derived from a secret
 * kept beside the data, so a newcomer's data is still encrypted at rest.
 */
export function keyringFromSecret(secret: string, id = 'dev'): Keyring {
  return { currentId: id, keys: new Map([[id, createHash('sha256').update(`flashsale-data-key:${secret}`).digest()]]) };
}

export function seal(ring: Keyring, plaintext: string, aad = ''): string {
  const key = ring.keys.get(ring.currentId)!;
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `v1.${ring.currentId}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
}

export function open(ring: Keyring, sealed: string, aad = ''): string {
  const parts = sealed.split('.');
  if (parts.length !== 4 || parts[0] !== 'v1') throw new CryptoError('not a sealed value');
  const key = ring.keys.get(parts[1]);
  if (!key) throw new CryptoError(`no key "${parts[1]}" in DATA_ENCRYPTION_KEY to open this value`);
  const body = Buffer.from(parts[3], 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2], 'base64url'));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
}

/** The key id a sealed value was sealed with (rotation finds values still on an old key). */
export function keyIdOf(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 4 && parts[0] === 'v1' ? parts[1] : undefined;
}
