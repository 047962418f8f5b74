// Shared stock streams write pre-built WebSocket frames: the bytes on the wire must be exactly
// what graphql-ws (through ws) sends for the same operation, and a fan-out spread over several
// event-loop turns (newer values going to members not yet written) must still deliver every
// member's values in order, ending on the truth.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { rawPending, rawWrites, textFrame, writeFrame } from '../src/live/frames.js';
import { type Harness, harness, RESERVE } from './support/harness.js';
import { STOCK } from './support/live.js';

// ws's own framing, to compare with (not exported in ws's type definitions).
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};
const wsFrame = (payload: Buffer) => Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));

/** A plain ws client speaking graphql-transport-ws that keeps every text message as received. */
async function rawClient(port: number) {
  const s = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
  const messages: string[] = [];
  s.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(String(data));
  });
  await new Promise((r) => s.once('open', r));
  return {
    messages,
    send: (m: unknown) => s.send(JSON.stringify(m)),
    /** The first message satisfying `pred` (waits for it, at most 30 s). */
    async message(pred: (m: string) => boolean): Promise<string> {
      for (let waited = 0; ; waited += 10) {
        const f = messages.find(pred);
        if (f !== undefined) return f;
        if (waited > 30_000) throw new Error(`no such message; got ${messages.join('\n')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () => s.terminate(),
  };
}

describe('textFrame', () => {
  it('builds the same bytes as ws for every header size and for multi-byte text', () => {
    const head = Buffer.from('{"id":"é-ü-☃","type":"next","payload":');
    for (const n of [0, 1, 70, 125 - head.length, 126 - head.length, 127, 65535 - head.length, 65536 - head.length, 70_000]) {
      const body = Buffer.from('x'.repeat(Math.max(0, n)) + '}');
      expect(textFrame(head, body).equals(wsFrame(Buffer.concat([head, body])))).toBe(true);
    }
  });
});

describe('writeFrame', () => {
  it('writes straight to the socket handle, in call order with ws sends, and counts what the peer has not read in the backlog', async () => {
    // On this Node the straight path is available (else every frame would go through socket.write and this test means nothing).
    expect(rawWrites).toBe(true);
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise((r) => wss.once('listening', r));
    const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: false });
    const got: string[] = [];
    client.on('message', (d) => got.push(String(d)));
    await new Promise((r) => client.once('open', r));
    const srv = await accepted;
    const raw = (text: string) => expect(writeFrame(srv, textFrame(Buffer.alloc(0), Buffer.from(text)))).toBe(true);
    try {
      // Interleaved with ws's own sends: the peer sees every message, in call order.
      const want: string[] = [];
      for (let i = 0; i < 200; i++) {
        want.push(`m${i}`);
        if (i % 2) raw(`m${i}`);
        else srv.send(`m${i}`);
      }
      await expect.poll(() => got.length, { timeout: 10_000 }).toBe(200);
      expect(got).toEqual(want);

      // A peer that stops reading: once the kernel's buffers are full, libuv holds frames back,
      // and they count in rawPending (ws's bufferedAmount does not see them).
      (client as unknown as { _socket: { pause(): void } })._socket.pause();
      const big = 'x'.repeat(64 * 1024);
      let sent = 0;
      while (rawPending(srv) === 0 && sent < 2000) {
        raw(`${sent}:${big}`);
        sent++;
      }
      expect(rawPending(srv)).toBeGreaterThan(0);
      expect(srv.bufferedAmount).toBe(0);
      // Still in order behind what libuv holds: a ws send, then another straight frame.
      srv.send('after-ws');
      raw('after-raw');
      (client as unknown as { _socket: { resume(): void } })._socket.resume();
      await expect.poll(() => got.length, { timeout: 30_000 }).toBe(200 + sent + 2);
      expect(got.slice(200, 200 + sent).map((m) => Number(m.slice(0, m.indexOf(':'))))).toEqual(Array.from({ length: sent }, (_, i) => i));
      expect(got.slice(-2)).toEqual(['after-ws', 'after-raw']);
      await expect.poll(() => rawPending(srv), { timeout: 10_000 }).toBe(0);
    } finally {
      client.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  it('sends a frame through socket.write, behind them, while the socket has unsent data of its own', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await new Promise((r) => wss.once('listening', r));
    const accepted = new Promise<WebSocket>((r) => wss.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: false });
    await new Promise((r) => client.once('open', r));
    const srv = await accepted;
    try {
      // A socket whose stream is corked has unsent data in net.Socket's own queue: the frame must go behind it, through socket.write.
      const sock = (srv as unknown as { _socket: import('node:net').Socket })._socket;
      const got: string[] = [];
      client.on('message', (d) => got.push(String(d)));
      sock.cork();
      srv.send('first');
      expect(writeFrame(srv, textFrame(Buffer.alloc(0), Buffer.from('second')))).toBe(true);
      sock.uncork();
      await expect.poll(() => got, { timeout: 10_000 }).toEqual(['first', 'second']);
    } finally {
      client.terminate();
      await new Promise((r) => wss.close(r));
    }
  });
});

describe('shared stock frames on the wire (embedded)', () => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await harness('embedded');
    port = await h.app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  it('sends a shared subscriber the same message, byte for byte, as graphql-ws sends an unshared one', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const c = await rawClient(port);
    c.send({ type: 'connection_init' });
    await c.message((m) => m.includes('"connection_ack"'));
    // Same operation; the @include makes the second one ineligible for sharing, so graphql-ws runs it.
    const unshared = STOCK.replace('stockChanged(productId: $id)', 'stockChanged(productId: $id) @include(if: true)');
    c.send({ id: 'S', type: 'subscribe', payload: { query: STOCK, variables: { id } } });
    c.send({ id: 'U', type: 'subscribe', payload: { query: unshared, variables: { id } } });
    for (let available = 5; available >= 3; available--) {
      if (available < 5) await h.gql(RESERVE, { input: { productId: id } }, await h.token(`frames-${available}`));
      const has = (sid: string) => (m: string) => m.startsWith(`{"id":"${sid}","type":"next"`) && m.includes(`"availableQuantity":${available},`);
      const s = await c.message(has('S'));
      const u = await c.message(has('U'));
      expect(h.app.live().sharedSubscribers).toBe(1);
      // The shared one came as a pre-built frame (textFrame, same bytes as ws's: see above); its text is graphql-ws's.
      expect(s.replace('{"id":"S"', '{"id":"U"')).toBe(u);
    }
    c.close();
  });

  it('gives members that share an operation id one frame per update, and each other id its own envelope', async () => {
    const { id } = await h.product({ totalQuantity: 4 });
    const clients = await Promise.all([rawClient(port), rawClient(port), rawClient(port)]);
    const ids = ['1', '1', 'other'];
    for (const [i, c] of clients.entries()) {
      c.send({ type: 'connection_init' });
      await c.message((m) => m.includes('"connection_ack"'));
      c.send({ id: ids[i], type: 'subscribe', payload: { query: STOCK, variables: { id } } });
      await c.message((m) => m.includes('"availableQuantity":4,'));
    }
    for (let available = 3; available >= 2; available--) {
      await h.gql(RESERVE, { input: { productId: id } }, await h.token(`share-${available}`));
      const got = await Promise.all(clients.map((c) => c.message((m) => m.includes(`"availableQuantity":${available},`))));
      expect(got[0]).toBe(got[1]);
      expect(got[0].startsWith('{"id":"1","type":"next","payload":')).toBe(true);
      expect(got[2]).toBe(got[0].replace('{"id":"1"', '{"id":"other"'));
      expect(JSON.parse(got[2]).payload.data.stockChanged.availableQuantity).toBe(available);
    }
    for (const c of clients) c.close();
  });

  it('delivers every member its values in order when a fan-out spans several event-loop turns', async () => {
    const total = 12;
    const { id } = await h.product({ totalQuantity: total });
    // One socket running 2,500 subscriptions of one shared stream (more members than one turn writes), and a second socket with one.
    const MEMBERS = 2500;
    const seen = new Map<string, number[]>();
    const open = async (ids: string[]) => {
      const s = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
      s.on('message', (raw) => {
        const m = JSON.parse(String(raw));
        if (m.type === 'connection_ack') for (const sid of ids) s.send(JSON.stringify({ id: sid, type: 'subscribe', payload: { query: STOCK, variables: { id } } }));
        else if (m.type === 'next') seen.get(m.id)!.push(m.payload.data.stockChanged.availableQuantity);
      });
      for (const sid of ids) seen.set(sid, []);
      await new Promise((r) => s.once('open', r));
      s.send('{"type":"connection_init"}');
      return s;
    };
    const many = await open(Array.from({ length: MEMBERS }, (_, i) => `m${i}`));
    const one = await open(['solo']);
    await expect.poll(() => [...seen.values()].filter((v) => v.length > 0).length, { timeout: 60_000 }).toBe(MEMBERS + 1);
    expect(h.app.live().sharedSubscribers).toBe(MEMBERS + 1);

    // A burst of reserves: several fan-outs, each spread over turns, some coalesced.
    const tokens = await Promise.all(Array.from({ length: total }, (_, i) => h.token(`order-${i}`)));
    const results = await Promise.all(tokens.map((t) => h.gql(RESERVE, { input: { productId: id } }, t)));
    expect(results.every((r) => r.data.reserve.__typename === 'ReserveSuccess')).toBe(true);
    await expect.poll(() => [...seen.values()].filter((v) => v.at(-1) === 0).length, { timeout: 60_000 }).toBe(MEMBERS + 1);

    for (const values of seen.values()) {
      expect(values[0]).toBe(total);
      // Never backwards, never a value twice: each update is newer than the one before
      // (a member written late in a pass may skip a value that a newer one replaced).
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThan(values[i - 1]);
    }
    many.close();
    one.close();
  });
});
