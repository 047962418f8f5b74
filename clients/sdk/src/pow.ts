/**
 * ALTCHA proof-of-work solver (https://altcha.org/docs/proof-of-work/): find `number` in
 * [0, maxnumber] with hex(HASH(salt + number)) === challenge, then answer with the base64
 * JSON payload `{ algorithm, challenge, number, salt, signature, took }` the server verifies.
 * Uses WebCrypto (browsers, Node 20, Deno, Bun); React Native passes its own `digest`.
 */
export interface AltchaChallenge {
  algorithm: string;
  challenge: string;
  salt: string;
  signature: string;
  maxnumber?: number;
}

/** Hex digest of a UTF-8 string, e.g. from expo-crypto or react-native-quick-crypto. */
export type HexDigest = (algorithm: 'SHA-1' | 'SHA-256' | 'SHA-512', input: string) => Promise<string>;

export class ChallengeError extends Error {}

const ALGORITHMS = new Set(['SHA-1', 'SHA-256', 'SHA-512']);

/** Reads a challenge sent as JSON or as base64-encoded JSON. */
export function parseChallenge(raw: string): AltchaChallenge {
  const attempts = [raw];
  try {
    attempts.push(decodeBase64(raw));
  } catch {
    /* not base64 */
  }
  for (const text of attempts) {
    try {
      const c = JSON.parse(text) as Partial<AltchaChallenge>;
      if (c && typeof c.challenge === 'string' && typeof c.salt === 'string' && typeof c.algorithm === 'string') {
        if (!ALGORITHMS.has(c.algorithm.toUpperCase())) throw new ChallengeError(`Unsupported challenge algorithm ${c.algorithm}`);
        return { algorithm: c.algorithm.toUpperCase(), challenge: c.challenge, salt: c.salt, signature: String(c.signature ?? ''), maxnumber: c.maxnumber };
      }
    } catch (err) {
      if (err instanceof ChallengeError) throw err;
    }
  }
  throw new ChallengeError('The server sent a challenge this client cannot read');
}

function decodeBase64(s: string): string {
  const bin = atob(s);
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function encodeBase64(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

const webCryptoDigest: HexDigest = async (algorithm, input) => {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new ChallengeError('No WebCrypto here: pass a `digest` function to solve challenges');
  const buf = new Uint8Array(await subtle.digest(algorithm, new TextEncoder().encode(input)));
  let hex = '';
  for (const b of buf) hex += b.toString(16).padStart(2, '0');
  return hex;
};

export interface SolveOptions {
  digest?: HexDigest;
  /** Give up after this many ms (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Solves a challenge and returns the `captcha` string to send back with `reserve`. */
export async function solveChallenge(raw: string, opts: SolveOptions = {}): Promise<string> {
  const c = parseChallenge(raw);
  const digest = opts.digest ?? webCryptoDigest;
  const max = c.maxnumber ?? 1_000_000;
  const started = Date.now();
  const deadline = started + (opts.timeoutMs ?? 30_000);
  const target = c.challenge.toLowerCase();
  const algorithm = c.algorithm as 'SHA-1' | 'SHA-256' | 'SHA-512';
  for (let n = 0; n <= max; n++) {
    if ((await digest(algorithm, c.salt + n)) === target) {
      return encodeBase64(
        JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number: n, salt: c.salt, signature: c.signature, took: Date.now() - started }),
      );
    }
    if (n % 1000 === 999) {
      if (opts.signal?.aborted) throw new ChallengeError('Solving the challenge was cancelled');
      if (Date.now() > deadline) throw new ChallengeError('The challenge took too long to solve');
    }
  }
  throw new ChallengeError('The challenge has no solution');
}
