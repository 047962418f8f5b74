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
  _socket?: Socket & { _handle?: StreamHandle | null; [kRawPending]?: number };
  _sender?: { _state?: number; _queue?: unknown[]; _bufferedBytes?: number };
}

/** The libuv stream handle under a net.Socket (Node's `TCP` wrap), as far as it is used here. */
interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
}

interface WriteReq {
  oncomplete?: (status: number) => void;
  /** Keeps the bytes alive while libuv still sends them (as net.Socket does). */
  buffer?: Buffer;
}

/** Bytes written straight to a socket's handle that libuv has not sent yet. */
const kRawPending = Symbol('rawPending');

/**
 * Node's write request class and its "how did the last write go" state, the ones net.Socket
 * itself uses (`process.binding('stream_wrap')`), or undefined where they are not available
 * (a future Node, `--pending-deprecation` with `--throw-deprecation`): then every frame goes
 * through `socket.write`, as before.
 */
const binding: { WriteWrap: new () => WriteReq; state: Int32Array; kAsync: number } | undefined = (() => {
  try {
    const b = (process as unknown as { binding(name: string): Record<string, unknown> }).binding('stream_wrap');
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number') return undefined;
    return { WriteWrap: b.WriteWrap as new () => WriteReq, state: b.streamBaseState, kAsync: b.kLastWriteWasAsync };
  } catch {
    return undefined;
  }
})();

/** One request object for every write that completes at once (libuv takes it only when a write has to wait). */
let spareReq: WriteReq | undefined;

/** Whether `writeFrame` writes straight to the socket's handle (else through `socket.write`). */
export const rawWrites = binding !== undefined;

/** Bytes handed to the socket's handle by `writeFrame` and not yet sent (part of the socket's backlog). */
export function rawPending(ws: WebSocket): number {
  return (ws as unknown as WsInternals)._socket?.[kRawPending] ?? 0;
}

/**
 * Writes a whole frame straight to the socket underneath `ws`. Safe to interleave with `ws`'s
 * own sends as long as its sender has nothing queued (it queues only while compressing or
 * reading a Blob, neither of which this server does; the server is created with
 * `perMessageDeflate: false`, so no extension transforms frames): every write is a whole
 * frame, in call order. Returns false (nothing written) when the socket cannot take a raw
 * frame; the caller then sends through `ws`.
 *
 * When the socket's stream has nothing unsent, the frame skips net.Socket's Writable machinery
 * (write queue, callbacks, the after-write tick) and goes to the libuv handle directly, the
 * call net.Socket would end in: one `writev`, and nothing else when the kernel takes it all,
 * which on a reading socket it does. libuv keeps writes on one handle in call order (a write
 * is tried at once only when nothing is queued before it), so frames and `ws`'s own sends
 * still go out in call order. Bytes libuv could not send yet count in `rawPending(ws)`
 * (`ws.bufferedAmount` does not see them), so the slow-consumer bound covers them; a failed
 * write destroys the socket, as net.Socket does. Otherwise the frame goes through
 * `socket.write` and counts in `ws.bufferedAmount` like any other send.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const w = ws as unknown as WsInternals;
  const socket = w._socket;
  const sender = w._sender;
  if (!socket || !sender || sender._state !== 0 || sender._queue?.length) return false;
  const handle = socket._handle;
  if (binding && handle && socket.writableLength === 0 && !socket.writableCorked && !socket.destroyed && !socket.connecting) {
    const req = spareReq ?? new binding.WriteWrap();
    spareReq = undefined;
    const err = handle.writeBuffer(req, frame);
    if (err !== 0) {
      // Not reused: libuv may have taken and released it.
      socket.destroy(new Error(`write failed (${err})`));
      return true;
    }
    if (binding.state[binding.kAsync]) {
      // libuv holds the rest (and this request) until the peer reads it; the whole frame counts until then.
      const left = frame.length;
      socket[kRawPending] = (socket[kRawPending] ?? 0) + left;
      req.buffer = frame;
      req.oncomplete = (status) => {
        socket[kRawPending]! -= left;
        if (status < 0) socket.destroy(new Error(`write failed (${status})`));
      };
    } else {
      spareReq = req;
    }
    return true;
  }
  socket.write(frame);
  return true;
}
