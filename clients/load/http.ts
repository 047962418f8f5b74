/**
 * A lean `fetch` for the load generator: the same requests as the global fetch (method,
 * headers, body, to the same URL), sent with node:http over a keep-alive pool, answering only
 * what the SDK reads (`status`, `ok`, `headers.get`, `json()`, `text()`). The global fetch
 * (undici with WHATWG streams) cost the load generator a large share of the CPU it shares
 * with the server in the flash-sale benchmark; this leaves more of it to the server.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export function leanFetch(opts: { maxSockets?: number } = {}): typeof fetch {
  const http = new HttpAgent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256 });
  const https = new HttpsAgent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256 });
  const lean = (input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const secure = url.protocol === 'https:';
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const body = init.body == null ? undefined : typeof init.body === 'string' ? init.body : undefined;
      if (init.body != null && body === undefined) throw new TypeError('leanFetch sends string bodies only');
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = (secure ? httpsRequest : httpRequest)(url, { method: init.method ?? 'GET', headers, agent: secure ? https : http, signal: init.signal ?? undefined }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          resolve({
            status,
            ok: status >= 200 && status < 300,
            statusText: res.statusMessage ?? '',
            url: url.toString(),
            headers: { get: (name: string) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
            } },
            text: async () => text,
            json: async () => JSON.parse(text),
          } as unknown as Response);
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  return lean as typeof fetch;
}
