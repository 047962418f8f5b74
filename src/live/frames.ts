/**
 * Pre-framed WebSocket text messages for the shared stock streams.
 *
 * A shared stream writes one event to thousands of sockets; through `ws`'s `send(string)`
 * each socket costs a string concatenation, a UTF-8 encoding, a frame header allocation and
 * a corked two-buffer `writev`. Here the event's bytes are encoded once per event, each
 * member keeps its envelope head (`{"id":"…","type":"next","payload":`) as bytes, and a
 * member's frame is one buffer (header + head + event) handed to the TCP socket in one
 * `write`: the same bytes `ws` would have put on the wire (an unmasked, unfragmented,
 * uncompressed text frame, as a server sends with `perMessageDeflate: false`).
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** The WebSocket frame header of a final, unmasked text frame carrying `length` payload bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

function writeHeader(out: Buffer, length: number): void {
  out[0] = 0x81; // FIN + text
  if (length < 126) {
    out[1] = length;
  } else if (length < 65536) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
}

/** One text frame whose payload is `head` followed by `body`. */
export function textFrame(head: Buffer, body: Buffer): Buffer {
  const length = head.length + body.length;
  const h = headerLength(length);
  const out = Buffer.allocUnsafe(h + length);
  writeHeader(out, length);
  head.copy(out, h);
  body.copy(out, h + head.length);
  return out;
}

interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number; _queue?: unknown[]; _bufferedBytes?: number };
}

/**
 * Writes a whole frame straight to the socket underneath `ws`. Safe to interleave with `ws`'s
 * own sends as long as its sender has nothing queued (it queues only while compressing or
 * reading a Blob, neither of which this server does; the server is created with
 * `perMessageDeflate: false`, so no extension transforms frames): every write is a whole
 * frame, in call order. Counts in `ws.bufferedAmount` like any other send. Returns false
 * (nothing written) when the socket cannot take a raw frame; the caller then sends through `ws`.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const w = ws as unknown as WsInternals;
  const socket = w._socket;
  const sender = w._sender;
  if (!socket || !sender || sender._state !== 0 || sender._queue?.length) return false;
  socket.write(frame);
  return true;
}
