import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ChannelSender, OutgoingMessage, SentReceipt } from '../../domain/notifications/port.js';

/**
 * The embedded default for a channel with no provider configured: each message is
 * appended, readable, to DATA_DIR/outbox.log (or, with no data folder, to the server log),
 * and the event stays in the outbox table as DELIVERED with its delivery record.
 */
export class LogSender implements ChannelSender {
  readonly transport = 'log';
  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
  ) {}

  async send(msg: OutgoingMessage): Promise<SentReceipt> {
    const entry = formatEntry(msg, new Date());
    if (this.file) {
      await mkdir(dirname(this.file), { recursive: true });
      await appendFile(this.file, entry, 'utf8');
    } else {
      this.log.info({ channel: msg.channel, topic: msg.topic, key: msg.key }, `notification (no provider configured)\n${entry}`);
    }
    return { providerId: `log:${msg.key}` };
  }
}

export function formatEntry(msg: OutgoingMessage, at: Date): string {
  return [
    `=== ${at.toISOString()}  ${msg.channel}  ${msg.topic}  to ${msg.to}`,
    `Message-Id: ${msg.key}`,
    `Subject: ${msg.subject}`,
    '',
    msg.text.trimEnd(),
    '',
    '',
  ].join('\n');
}
