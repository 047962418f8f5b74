// Local stand-ins for the providers we cannot reach, at the network boundary only:
// a real SMTP server (smtp-server) and an HTTP server speaking Twilio's Messages API.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  messageId: string;
  topic: string;
  to: string[];
  subject: string;
  /** The whole message with quoted-printable soft breaks undone (for text searches). */
  body: string;
}

export interface SmtpOptions {
  /** Refuse a recipient: return an SMTP code (e.g. 451 temporary, 550 permanent) or nothing to accept. */
  refuse?: (rcpt: string, attempt: number) => number | undefined;
  /** Wait this long before accepting each message (to catch a worker mid-batch). */
  delayMs?: number;
}

export interface TestSmtp {
  url: string;
  mails: ReceivedMail[];
  /** How many times each recipient was offered (RCPT TO), accepted or not. */
  offers: Map<string, number>;
  set(opts: SmtpOptions): void;
  close(): Promise<void>;
}

function header(raw: string, name: string): string {
  const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head);
  return m ? m[1].trim() : '';
}

export async function startSmtp(initial: SmtpOptions = {}): Promise<TestSmtp> {
  let opts = initial;
  const mails: ReceivedMail[] = [];
  const offers = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onRcptTo(address, _session, cb) {
      const n = (offers.get(address.address) ?? 0) + 1;
      offers.set(address.address, n);
      const code = opts.refuse?.(address.address, n);
      if (code) {
        const err = new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later') as Error & { responseCode: number };
        err.responseCode = code;
        return cb(err);
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const accept = () => {
          mails.push({
            messageId: header(raw, 'Message-ID'),
            topic: header(raw, 'X-Flashsale-Topic'),
            to: session.envelope.rcptTo.map((r) => r.address),
            subject: header(raw, 'Subject'),
            body: raw.replace(/=\r?\n/g, '').replace(/=3D/g, '='),
          });
          cb();
        };
        if (opts.delayMs) setTimeout(accept, opts.delayMs);
        else accept();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    offers,
    set(o) {
      opts = o;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface ReceivedSms {
  sid: string;
  to: string;
  from: string;
  body: string;
}

export interface TestTwilio {
  url: string;
  accountSid: string;
  authToken: string;
  from: string;
  sms: ReceivedSms[];
  /** Requests refused for bad credentials (must stay 0). */
  unauthorized: number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Twilio's `POST/GET /2010-04-01/Accounts/{sid}/Messages.json`, enough for the SDK. */
export async function startTwilio(): Promise<TestTwilio> {
  const accountSid = `AC${randomBytes(16).toString('hex')}`;
  const authToken = randomBytes(16).toString('hex');
  const state: TestTwilio = {
    url: '',
    accountSid,
    authToken,
    from: '+15005550006',
    sms: [],
    unauthorized: 0,
    close: async () => {},
  };
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const path = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
  const json = (m: ReceivedSms) => ({
    sid: m.sid,
    account_sid: accountSid,
    to: m.to,
    from: m.from,
    body: m.body,
    status: 'queued',
    num_segments: '1',
    direction: 'outbound-api',
    api_version: '2010-04-01',
    date_created: new Date().toUTCString(),
    uri: `${path.replace('.json', '')}/${m.sid}.json`,
  });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== expectedAuth) {
      state.unauthorized++;
      return send(401, { code: 20003, message: 'Authenticate', status: 401 });
    }
    if (url.pathname !== path) return send(404, { code: 20404, message: 'Not found', status: 404 });
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const to = form.get('To') ?? '';
      if (!/^\+[1-9]\d{6,14}$/.test(to)) return send(400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, status: 400 });
      const m: ReceivedSms = { sid: `SM${randomBytes(16).toString('hex')}`, to, from: form.get('From') ?? '', body: form.get('Body') ?? '' };
      state.sms.push(m);
      return send(201, json(m));
    }
    if (req.method === 'GET') {
      const to = url.searchParams.get('To');
      const list = state.sms.filter((m) => !to || m.to === to).map(json);
      return send(200, { messages: list, next_page_uri: null, page: 0, page_size: 50, uri: path });
    }
    send(405, { message: 'method not allowed' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
