/**
 * The security settings: rate limits, bot challenge, GraphQL abuse limits, persisted
 * operations, TLS, client-IP trust. Parsed from the environment by `loadSecurityConfig`
 * (called from src/config.ts, so every variable is still read in one place).
 * Every variable is documented in docs/security.md.
 */
export class SecurityConfigError extends Error {}

/** At most `count` requests per `periodSeconds`, a burst of up to `count` allowed at once. */
export interface RateRule {
  count: number;
  periodSeconds: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  reserve: { shopper: RateRule; ip: RateRule; product: RateRule };
  read: { shopper: RateRule; ip: RateRule };
  checkout: { shopper: RateRule; ip: RateRule };
  /** WS_MAX_PER_IP: open WebSockets one client IP may hold per api process (0: no limit). */
  wsPerIp: number;
}

export type CaptchaMode = 'off' | 'suspicious' | 'always';

export interface CaptchaConfig {
  mode: CaptchaMode;
  /** HMAC key that signs challenges; derived from the data key when unset. */
  hmacKey?: string;
  /** Upper bound of the proof-of-work search (difficulty). */
  maxNumber: number;
  /** How long a challenge may be solved and used, in seconds. */
  ttlSeconds: number;
  /** Suspicious: more reserve attempts than this per shopper in `burstWindowSeconds`. */
  burstCount: number;
  burstWindowSeconds: number;
  /** Suspicious: more distinct shoppers than this from one IP in `ipWindowSeconds`. */
  shoppersPerIp: number;
  ipWindowSeconds: number;
  /** Suspicious: the token was issued less than this many seconds before the sale opened (or after). */
  freshTokenSeconds: number;
}

export interface GraphqlLimitsConfig {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  /** Operations per batched HTTP request; 0 turns batching off. */
  maxBatch: number;
  /** Largest GraphQL request body in bytes (HTTP 413 past it). */
  maxBodyBytes: number;
  introspection: boolean;
  persistedOperations: 'off' | 'allow' | 'only';
  persistedOperationsFile?: string;
}

export interface SecurityConfig {
  rateLimit: RateLimitConfig;
  captcha: CaptchaConfig;
  graphql: GraphqlLimitsConfig;
  /** Proxies in front of the server whose X-Forwarded-For entries are trusted (0 = use the socket address). */
  trustProxy: number;
  /**
   * CORS_ORIGINS: the web origins whose pages may read the API's answers in a browser: `*` any
   * origin (the default), `off` none (same-origin pages only), or a list. Not applied to
   * WebSockets (browsers do not apply CORS to them; a socket is authenticated by its token).
   */
  corsOrigins: '*' | 'off' | string[];
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

type Env = Record<string, string | undefined>;

function rule(env: Env, name: string, fallback: string): RateRule {
  const raw = (env[name] || fallback).trim();
  const m = /^(\d+)\s*\/\s*(\d+)?\s*(s|m|h)?$/.exec(raw);
  if (!m) throw new SecurityConfigError(`${name} must look like "10/1s", "100/10s" or "600/1m", got "${raw}"`);
  const count = Number(m[1]);
  const period = Number(m[2] ?? 1) * ({ s: 1, m: 60, h: 3600 } as const)[(m[3] ?? 's') as 's' | 'm' | 'h'];
  if (count < 1 || count > 1_000_000 || period < 1 || period > 86_400) {
    throw new SecurityConfigError(`${name}: count must be 1..1000000 and period 1s..24h, got "${raw}"`);
  }
  return { count, periodSeconds: period };
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SecurityConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = (env[name] || fallback).toLowerCase() as T;
  if (!values.includes(raw)) throw new SecurityConfigError(`${name} must be one of ${values.join(', ')}, got "${env[name]}"`);
  return raw;
}

/** CORS_ORIGINS: `*` (default), `off`, or a comma-separated list of origins such as https://shop.example.com. */
function corsOrigins(env: Env): '*' | 'off' | string[] {
  const raw = (env.CORS_ORIGINS ?? '').trim();
  if (raw === '' || raw === '*') return '*';
  if (raw.toLowerCase() === 'off') return 'off';
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of list) {
    let origin: string | undefined;
    try {
      const u = new URL(o);
      origin = u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
    } catch {
      origin = undefined;
    }
    if (origin !== o) {
      throw new SecurityConfigError(`CORS_ORIGINS: "${o}" is not an origin (scheme://host[:port], no path or trailing slash, e.g. https://shop.example.com); or use * or off`);
    }
  }
  return [...new Set(list)];
}

export function loadSecurityConfig(env: Env, production: boolean): SecurityConfig {
  const cert = env.TLS_CERT_FILE || undefined;
  const key = env.TLS_KEY_FILE || undefined;
  if (!!cert !== !!key) throw new SecurityConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  const persisted = oneOf(env, 'PERSISTED_OPERATIONS', ['off', 'allow', 'only'] as const, 'off');
  const persistedFile = env.PERSISTED_OPERATIONS_FILE || undefined;
  if (persisted !== 'off' && !persistedFile) {
    throw new SecurityConfigError(`PERSISTED_OPERATIONS=${persisted} needs PERSISTED_OPERATIONS_FILE (the manifest)`);
  }
  const introspection = oneOf(env, 'GRAPHQL_INTROSPECTION', ['on', 'off'] as const, production ? 'off' : 'on') === 'on';
  const hmacKey = env.CAPTCHA_HMAC_KEY || undefined;
  if (hmacKey !== undefined && hmacKey.length < 32) throw new SecurityConfigError('CAPTCHA_HMAC_KEY must be at least 32 characters');
  return {
    rateLimit: {
      enabled: oneOf(env, 'RATE_LIMIT', ['on', 'off'] as const, 'on') === 'on',
      reserve: {
        shopper: rule(env, 'RATE_LIMIT_RESERVE_SHOPPER', '10/10s'),
        ip: rule(env, 'RATE_LIMIT_RESERVE_IP', '100/10s'),
        product: rule(env, 'RATE_LIMIT_RESERVE_PRODUCT', '20000/1s'),
      },
      read: {
        shopper: rule(env, 'RATE_LIMIT_READ_SHOPPER', '300/1m'),
        ip: rule(env, 'RATE_LIMIT_READ_IP', '3000/1m'),
      },
      checkout: {
        shopper: rule(env, 'RATE_LIMIT_CHECKOUT_SHOPPER', '20/1m'),
        ip: rule(env, 'RATE_LIMIT_CHECKOUT_IP', '200/1m'),
      },
      wsPerIp: int(env, 'WS_MAX_PER_IP', 1000, 0, 1_000_000),
    },
    captcha: {
      mode: oneOf(env, 'CAPTCHA', ['off', 'suspicious', 'always'] as const, 'off'),
      hmacKey,
      maxNumber: int(env, 'CAPTCHA_MAX_NUMBER', 100_000, 10, 10_000_000),
      ttlSeconds: int(env, 'CAPTCHA_TTL_SECONDS', 120, 5, 3600),
      burstCount: int(env, 'CAPTCHA_BURST_COUNT', 5, 1, 10_000),
      burstWindowSeconds: int(env, 'CAPTCHA_BURST_WINDOW_SECONDS', 10, 1, 3600),
      shoppersPerIp: int(env, 'CAPTCHA_SHOPPERS_PER_IP', 20, 1, 1_000_000),
      ipWindowSeconds: int(env, 'CAPTCHA_IP_WINDOW_SECONDS', 600, 1, 86_400),
      freshTokenSeconds: int(env, 'CAPTCHA_FRESH_TOKEN_SECONDS', 60, 0, 86_400),
    },
    graphql: {
      maxDepth: int(env, 'GRAPHQL_MAX_DEPTH', 10, 2, 100),
      maxCost: int(env, 'GRAPHQL_MAX_COST', 5000, 10, 1_000_000),
      maxAliases: int(env, 'GRAPHQL_MAX_ALIASES', 15, 0, 1000),
      maxTokens: int(env, 'GRAPHQL_MAX_TOKENS', 1000, 50, 100_000),
      maxDirectives: int(env, 'GRAPHQL_MAX_DIRECTIVES', 10, 0, 1000),
      maxBatch: int(env, 'GRAPHQL_MAX_BATCH', 5, 0, 100),
      maxBodyBytes: int(env, 'GRAPHQL_MAX_BODY_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
      introspection,
      persistedOperations: persisted,
      persistedOperationsFile: persistedFile,
    },
    trustProxy: int(env, 'TRUST_PROXY', 0, 0, 10),
    corsOrigins: corsOrigins(env),
    tlsCertFile: cert,
    tlsKeyFile: key,
  };
}

/** What `buildApp` uses when it is given no security settings (tests of other modules): limits on, rate limits and challenge off. */
export function defaultSecurityConfig(): SecurityConfig {
  const c = loadSecurityConfig({ RATE_LIMIT: 'off' }, false);
  return c;
}
