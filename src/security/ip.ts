import { isIP } from 'node:net';

/**
 * The client's IP: the socket's address, or, behind `trustProxy` proxies, the entry
 * that many places from the right of X-Forwarded-For (the left part is the client's
 * to forge). Undefined when unknown (in-process requests): per-IP checks then skip.
 */
export function clientIp(forwardedFor: string | null | undefined, remoteAddress: string | undefined, trustProxy: number): string | undefined {
  if (trustProxy > 0 && forwardedFor) {
    const hops = forwardedFor.split(',').map((s) => s.trim()).filter(Boolean);
    const ip = hops[Math.max(0, hops.length - trustProxy)];
    if (ip && isIP(ip)) return normalise(ip);
  }
  return remoteAddress ? normalise(remoteAddress) : undefined;
}

const normalise = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);

/** The node request behind a Yoga server context (HTTP) or a graphql-ws upgrade, if any. */
export function nodeRequestOf(ctx: unknown): { headers: Record<string, string | string[] | undefined>; socket?: { remoteAddress?: string } } | undefined {
  const req = (ctx as { req?: { headers?: unknown; socket?: { remoteAddress?: string } } } | undefined)?.req;
  return req && typeof req.headers === 'object' ? (req as never) : undefined;
}
