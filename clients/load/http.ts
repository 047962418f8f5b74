/**
 * A lean `fetch` for the load generator: the same requests as the global fetch (method,
 * headers, body, to the same URL), answering only what the SDK reads (`status`, `ok`,
 * `headers.get`, `json()`, `text()`). The global fetch (undici with WHATWG streams) and then
 * node:http's client (an agent, a ClientRequest, an IncomingMessage and their events per
 * request) cost the load generator as much CPU per request as the server spent answering it,
 * on the same cores in the flash-sale benchmark. Plain `http:` URLs therefore go over a small
 * HTTP/1.1 keep-alive client on raw sockets (one string written per request, the answer parsed
 * from the socket's buffers); `https:` stays on node:https.
 */
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';

type Lean = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

interface Answer {
  status: number;
  statusText: string;
  headers: Map<string, string>;
  body: Buffer;
}

function responseOf(url: string, a: Answer): Response {
  const text = a.body.toString('utf8');
  return {
    status: a.status,
    ok: a.status >= 200 && a.status < 300,
    statusText: a.statusText,
    url,
    headers: { get: (name: string) => a.headers.get(name.toLowerCase()) ?? null },
    text: async () => text,
    json: async () => JSON.parse(text),
  } as unknown as Response;
}

/** The request's headers as fetch would send them (names lower-cased), plus content-length. */
function headersOf(init: RequestInit): { headers: [string, string][]; body: string | undefined } {
  const headers: [string, string][] = [];
  new Headers(init.headers).forEach((v, k) => {
    headers.push([k, v]);
  });
  const body = init.body == null ? undefined : typeof init.body === 'string' ? init.body : undefined;
  if (init.body != null && body === undefined) throw new TypeError('leanFetch sends string bodies only');
  if (body !== undefined) headers.push(['content-length', String(Buffer.byteLength(body))]);
  return { headers, body };
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/**
 * Reads one HTTP/1.1 answer from a stream of chunks. `push` returns the answer once it is
 * complete (and the bytes after it, which a server must not send unasked: they are an error),
 * or undefined while more is needed. Framing: Content-Length, chunked, or (neither) until the
 * connection closes; no body for HEAD, 1xx, 204 and 304.
 */
class AnswerReader {
  private buf: Buffer = Buffer.alloc(0);
  private head: { status: number; statusText: string; headers: Map<string, string> } | undefined;
  private length = -1; // body length, -1 chunked, -2 until close
  private chunks: Buffer[] = [];

  constructor(private readonly noBody: boolean) {}

  push(data: Buffer): Answer | undefined {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    for (;;) {
      if (!this.head) {
        const end = this.buf.indexOf(CRLF2);
        if (end < 0) {
          if (this.buf.length > 64 * 1024) throw new Error('HTTP answer head over 64 KiB');
          return undefined;
        }
        const lines = this.buf.toString('latin1', 0, end).split('\r\n');
        this.buf = this.buf.subarray(end + 4);
        const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
        if (!m) throw new Error(`Malformed HTTP status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
        const status = Number(m[1]);
        const headers = new Map<string, string>();
        for (let i = 1; i < lines.length; i++) {
          const c = lines[i].indexOf(':');
          if (c <= 0) throw new Error('Malformed HTTP header line');
          const k = lines[i].slice(0, c).trim().toLowerCase();
          const v = lines[i].slice(c + 1).trim();
          const had = headers.get(k);
          headers.set(k, had === undefined ? v : `${had}, ${v}`);
        }
        if (status < 200) continue; // 100 Continue and other interim answers: the real one follows
        this.head = { status, statusText: m[2], headers };
        const te = headers.get('transfer-encoding');
        const cl = headers.get('content-length');
        if (this.noBody || status === 204 || status === 304) this.length = 0;
        else if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) this.length = -1;
        else if (cl !== undefined) {
          if (!/^\d+$/.test(cl)) throw new Error(`Malformed Content-Length: ${cl}`);
          this.length = Number(cl);
        } else this.length = -2;
      }
      if (this.length >= 0) {
        if (this.buf.length < this.length) return undefined;
        const body = this.buf.subarray(0, this.length);
        return this.done(body, this.buf.subarray(this.length));
      }
      if (this.length === -2) {
        this.chunks.push(this.buf);
        this.buf = Buffer.alloc(0);
        return undefined;
      }
      // chunked: size line, data, CRLF; a zero size ends it (after optional trailers and CRLF)
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) return undefined;
      const size = parseInt(this.buf.toString('latin1', 0, eol).split(';')[0].trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error('Malformed chunk size');
      if (size === 0) {
        const end = this.buf.indexOf(CRLF2, eol - 2 < 0 ? 0 : eol - 2);
        if (end < 0) return undefined;
        return this.done(Buffer.concat(this.chunks), this.buf.subarray(end + 4));
      }
      if (this.buf.length < eol + 2 + size + 2) return undefined;
      this.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  /** The connection closed: the answer, when it was framed by the close. */
  end(): Answer | undefined {
    if (this.head && this.length === -2) return { ...this.head, body: Buffer.concat(this.chunks) };
    return undefined;
  }

  private done(body: Buffer, rest: Buffer): Answer {
    if (rest.length) throw new Error('Unexpected bytes after the HTTP answer');
    return { ...this.head!, body };
  }
}

interface Conn {
  socket: Socket;
  /** The request it is serving: gets the socket's data, end and errors. */
  onData?: (data: Buffer) => void;
  onGone?: (err: Error) => void;
  idleSince: number;
  keepAliveMs: number;
}

/** A keep-alive pool of raw sockets per origin, at most `maxSockets` open per origin. */
function rawHttp(maxSockets: number): Lean & { preconnect(url: string, n: number): Promise<number> } {
  const pools = new Map<string, { idle: Conn[]; open: number; waiting: (() => void)[] }>();

  const poolOf = (origin: string) => {
    let p = pools.get(origin);
    if (!p) pools.set(origin, (p = { idle: [], open: 0, waiting: [] }));
    return p;
  };

  const open = (host: string, port: number) =>
    new Promise<Conn>((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      const conn: Conn = { socket, idleSince: 0, keepAliveMs: 4000 };
      const fail = (err: Error) => reject(err);
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        socket.on('data', (d: Buffer) => conn.onData?.(d));
        socket.on('error', (err) => conn.onGone?.(err));
        socket.on('close', () => conn.onGone?.(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
        resolve(conn);
      });
    });

  /** A socket given back (or opened ahead): idle until the next request, forgotten if closed meanwhile. */
  const idle = (pool: ReturnType<typeof poolOf>, c: Conn) => {
    c.idleSince = Date.now();
    c.onGone = () => {
      const i = pool.idle.indexOf(c);
      if (i >= 0) {
        pool.idle.splice(i, 1);
        pool.open--;
      }
      c.onGone = undefined;
    };
    pool.idle.push(c);
  };

  const lean: Lean = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const { headers, body } = headersOf(init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw abortError(signal);
    const method = (init.method ?? 'GET').toUpperCase();
    const port = url.port ? Number(url.port) : 80;
    const origin = `${url.hostname}:${port}`;
    const pool = poolOf(origin);

    let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: keep-alive\r\n`;
    for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
    const payload = `${head}\r\n${body ?? ''}`;

    // A socket: an idle one still inside the server's keep-alive window, or a new one when
    // fewer than maxSockets are open, or the next one given back.
    let conn: Conn | undefined;
    for (;;) {
      const now = Date.now();
      while (pool.idle.length) {
        const c = pool.idle.pop()!;
        if (now - c.idleSince < c.keepAliveMs && !c.socket.destroyed) {
          conn = c;
          break;
        }
        pool.open--;
        c.onGone = undefined;
        c.socket.destroy();
      }
      if (conn) break;
      if (pool.open < maxSockets) {
        pool.open++;
        try {
          conn = await open(url.hostname, port);
        } catch (err) {
          pool.open--;
          pool.waiting.shift()?.();
          throw err;
        }
        break;
      }
      await new Promise<void>((r) => pool.waiting.push(r));
    }

    const c = conn;
    const answer = await new Promise<Answer>((resolve, reject) => {
      const reader = new AnswerReader(method === 'HEAD');
      let settled = false;
      const finish = (err: Error | undefined, a?: Answer) => {
        if (settled) return;
        settled = true;
        c.onData = undefined;
        c.onGone = undefined;
        signal?.removeEventListener('abort', onAbort);
        const reuse = !err && a && a.headers.get('connection')?.toLowerCase() !== 'close' && !c.socket.destroyed;
        if (reuse) {
          const ka = /timeout=(\d+)/.exec(a.headers.get('keep-alive') ?? '');
          if (ka) c.keepAliveMs = Math.max(0, Number(ka[1]) * 1000 - 500);
          idle(pool, c);
        } else {
          pool.open--;
          c.socket.destroy();
        }
        pool.waiting.shift()?.();
        if (err) reject(err);
        else resolve(a!);
      };
      const onAbort = () => finish(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      c.onData = (d) => {
        try {
          const a = reader.push(d);
          if (a) finish(undefined, a);
        } catch (err) {
          finish(err as Error);
        }
      };
      c.onGone = (err) => {
        const a = reader.end();
        if (a) finish(undefined, { ...a, headers: new Map([...a.headers, ['connection', 'close']]) });
        else finish(err);
      };
      c.socket.write(payload);
    });
    return responseOf(url.toString(), answer);
  };

  /**
   * Opens up to `n` sockets to `url`'s origin ahead of the requests (never past maxSockets), kept
   * idle for them; resolves with how many are open. Idle sockets are used within their keep-alive
   * window (4 s before a server has said otherwise).
   */
  const preconnect = async (href: string, n: number) => {
    const url = new URL(href);
    const port = url.port ? Number(url.port) : 80;
    const pool = poolOf(`${url.hostname}:${port}`);
    const more = Math.max(0, Math.min(n, maxSockets) - pool.open);
    pool.open += more;
    const opened = await Promise.allSettled(Array.from({ length: more }, () => open(url.hostname, port)));
    for (const o of opened) {
      if (o.status === 'fulfilled') idle(pool, o.value);
      else pool.open--;
    }
    return pool.open;
  };
  return Object.assign(lean, { preconnect });
}

/** node:https with a keep-alive agent, for `https:` URLs. */
function nodeHttps(maxSockets: number): Lean {
  const agent = new HttpsAgent({ keepAlive: true, maxSockets });
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const { headers, body } = headersOf(init);
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers: Object.fromEntries(headers), agent, signal: init.signal ?? undefined }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const h = new Map<string, string>();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : String(v));
          resolve(responseOf(url.toString(), { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: h, body: Buffer.concat(chunks) }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** `fetch` with `preconnect(url, n)`: opens n keep-alive sockets ahead of the requests (plain http). */
export type LeanFetch = typeof fetch & { preconnect(url: string, n: number): Promise<number> };

export function leanFetch(opts: { maxSockets?: number } = {}): LeanFetch {
  const max = opts.maxSockets ?? 256;
  const http = rawHttp(max);
  const https = nodeHttps(max);
  const lean: Lean = (input, init) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return href.startsWith('https:') ? https(input, init) : http(input, init);
  };
  const preconnect = async (url: string, n: number) => (url.startsWith('https:') ? 0 : http.preconnect(url, n));
  return Object.assign(lean as typeof fetch, { preconnect });
}
