import twilio from 'twilio';
import type { ChannelSender, OutgoingMessage, SentReceipt } from '../../domain/notifications/port.js';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  from: string;
  /** Another API origin (a regional proxy, or a local server in tests): replaces https://*.twilio.com. */
  apiUrl?: string;
}

type RequestOpts = Parameters<twilio.RequestClient['request']>[0];

/** The SDK's own HTTP client, sending every request to another origin. */
class RebasedRequestClient extends twilio.RequestClient {
  constructor(private readonly origin: URL) {
    super({ autoRetry: false });
  }
  override request<TData>(opts: RequestOpts) {
    const u = new URL(opts.uri!);
    u.protocol = this.origin.protocol;
    u.host = this.origin.host;
    return super.request<TData>({ ...opts, uri: u.toString() } as never);
  }
}

/**
 * SMS with the official twilio SDK. Twilio has no idempotency key for messages, so the
 * body ends with a short reference derived from the stable message key, the sid is
 * stored in the delivery record, and after a crash mid-send `findSent` looks the message
 * up by that reference before sending again.
 */
export class TwilioSender implements ChannelSender {
  readonly transport = 'twilio';
  private readonly client: twilio.Twilio;
  constructor(private readonly opts: TwilioOptions) {
    this.client = twilio(opts.accountSid, opts.authToken, {
      autoRetry: false,
      ...(opts.apiUrl ? { httpClient: new RebasedRequestClient(new URL(opts.apiUrl)) } : {}),
    });
  }

  private fromParam() {
    return this.opts.from.startsWith('MG') ? { messagingServiceSid: this.opts.from } : { from: this.opts.from };
  }

  async send(msg: OutgoingMessage): Promise<SentReceipt> {
    const m = await this.client.messages.create({ to: msg.to, body: smsBody(msg), ...this.fromParam() });
    return { providerId: m.sid };
  }

  async findSent(msg: OutgoingMessage): Promise<SentReceipt | undefined> {
    const ref = smsRef(msg.key);
    const recent = await this.client.messages.list({ to: msg.to, dateSentAfter: new Date(Date.now() - 86_400_000), limit: 50 });
    const hit = recent.find((m) => m.body?.includes(ref));
    return hit ? { providerId: hit.sid } : undefined;
  }
}

/** A short, stable reference for an SMS (the message key's hash would do; the key's head is readable). */
export const smsRef = (key: string) => `ref ${key.slice(0, 8)}${key.slice(-6)}`;

export function smsBody(msg: OutgoingMessage): string {
  return `${msg.text.trim()}\n(${smsRef(msg.key)})`;
}
