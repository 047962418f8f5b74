import nodemailer, { type Transporter } from 'nodemailer';
import type { ChannelSender, OutgoingMessage, SentReceipt } from '../../domain/notifications/port.js';

/**
 * Email over SMTP with nodemailer. The Message-ID is derived from the message's stable
 * key, so a resend after a crash carries the same Message-ID and receivers can drop it.
 */
export class SmtpSender implements ChannelSender {
  readonly transport = 'smtp';
  private readonly transporter: Transporter;
  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    this.transporter = nodemailer.createTransport(smtpUrl, {
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    } as never);
  }

  async send(msg: OutgoingMessage): Promise<SentReceipt> {
    const messageId = messageIdOf(msg.key);
    await this.transporter.sendMail({
      from: this.from,
      to: msg.to,
      subject: msg.subject,
      text: msg.text,
      html: msg.html,
      messageId,
      headers: { 'X-Flashsale-Topic': msg.topic, 'X-Flashsale-Message-Key': msg.key },
    });
    return { providerId: messageId };
  }

  async close() {
    this.transporter.close();
  }
}

export const messageIdOf = (key: string) => `<${key}@flashsale>`;
