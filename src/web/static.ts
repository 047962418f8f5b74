import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Plugin } from 'graphql-yoga';
import { BodyTooLarge, readJson } from '../http/body.js';

/**
 * Serves the storefront (clients/web, built by `npm run build:web`) at `/`, and in development
 * a "demo shopper" sign-in: `POST /dev/token` mints a short-lived shopper token.
 */
export interface WebOptions {
  /** The built storefront folder (clients/web/dist). */
  root: string;
  /** Mints a shopper token for `sub`; set only in development. */
  devToken?: (sub: string) => Promise<string>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>flashsale</title>
<body>
<h1>flashsale</h1><p>The storefront has not been built. Run <code>npm run build:web</code> (or <code>npm run build</code>) and reload.</p>
<p>The API is at <a href="/graphql">/graphql</a>.</p></body></html>`;

const SUB_RE = /^[A-Za-z0-9_.-]{1,40}$/;

export function webPlugin(opts: WebOptions): Plugin {
  const root = resolve(opts.root);
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const path = url.pathname;
      if (path === '/dev/token') {
        if (!opts.devToken) return; // not in production: the REST plugin answers 404
        if (request.method !== 'POST') {
          endResponse(fetchAPI.Response.json({ error: { code: 'METHOD_NOT_ALLOWED', message: 'Use POST' } }, { status: 405, headers: { allow: 'POST' } }));
          return;
        }
        let name: unknown;
        try {
          name = ((await readJson(request, 4096)) as { name?: unknown } | null)?.name;
        } catch (err) {
          if (err instanceof BodyTooLarge) {
            endResponse(fetchAPI.Response.json({ error: { code: 'PAYLOAD_TOO_LARGE', message: err.message } }, { status: 413 }));
            return;
          }
          name = undefined;
        }
        if (name !== undefined && (typeof name !== 'string' || !SUB_RE.test(name))) {
          endResponse(
            fetchAPI.Response.json(
              { error: { code: 'INVALID_INPUT', message: 'name must be 1-40 letters, digits, dot, dash or underscore', field: 'name' } },
              { status: 400 },
            ),
          );
          return;
        }
        const sub = `demo-${(name as string | undefined) ?? randomBytes(6).toString('hex')}`;
        endResponse(fetchAPI.Response.json({ token: await opts.devToken(sub), sub }, { headers: { 'cache-control': 'no-store' } }));
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      if (path !== '/' && path !== '/index.html' && !path.startsWith('/assets/') && !/^\/[\w.-]+\.(svg|png|ico|webmanifest|txt)$/.test(path)) return;
      const rel = path === '/' ? 'index.html' : decodeURIComponent(path.slice(1));
      const file = normalize(join(root, rel));
      if (!file.startsWith(root + sep)) return;
      try {
        const info = await stat(file);
        if (!info.isFile()) return;
        const body = await readFile(file);
        endResponse(
          new fetchAPI.Response(request.method === 'HEAD' ? null : body, {
            headers: {
              'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
              'content-length': String(body.length),
              'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
              ...SECURITY_HEADERS,
            },
          }),
        );
      } catch {
        if (rel === 'index.html') {
          endResponse(new fetchAPI.Response(NOT_BUILT, { headers: { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS } }));
        }
      }
    },
  };
}
