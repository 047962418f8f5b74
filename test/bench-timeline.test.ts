// The benchmark's per-slice breakdown of a run (bench/lib.ts timelineOf, load's timelineMs), which
// BENCHMARKS.md uses to say where case 6's p99 comes from.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load, timelineOf } from '../bench/lib.js';

describe('timelineOf', () => {
  it('groups latencies by send time and summarises each slice', () => {
    const samples = [
      ...Array.from({ length: 100 }, (_, i) => ({ sentMs: i, ms: i < 90 ? 10 : 80 })),
      ...Array.from({ length: 50 }, (_, i) => ({ sentMs: 500 + i, ms: 5 + (i % 5) })),
      { sentMs: -0.5, ms: 3 }, // sent as the run began: the first slice
    ];
    const slices = timelineOf(samples, 500);
    expect(slices.map((s) => s.atMs)).toEqual([0, 500]);
    expect(slices[0]).toEqual({ atMs: 0, n: 101, p50: 10, p99: 80, max: 80, over50: 10 });
    expect(slices[1]).toEqual({ atMs: 500, n: 50, p50: 7, p99: 9, max: 9, over50: 0 });
  });

  it('leaves out slices nobody sent in', () => {
    const slices = timelineOf([{ sentMs: 10, ms: 1 }, { sentMs: 1210, ms: 2 }], 500);
    expect(slices.map((s) => [s.atMs, s.n])).toEqual([
      [0, 1],
      [1000, 1],
    ]);
  });
});

describe('load with timelineMs (autocannon)', () => {
  let held = 0;
  let answered = 0;
  let url = '';
  // The first four requests (each connection's first) are answered 700 ms late, the rest at once.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const reply = () => {
        answered++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      };
      if (held < 4) {
        held++;
        setTimeout(reply, 700);
      } else reply();
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('puts each answer in the slice its request was sent in, the slow opening apart from the rest', async () => {
    const r = await load({ url, connections: 4, durationSeconds: 2, warmupSeconds: 0, timelineMs: 500 });
    const slices = r.timeline!;
    // Every answer counted once.
    expect(slices.reduce((n, s) => n + s.n, 0)).toBe(r.requests);
    expect(r.requests).toBeLessThanOrEqual(answered);
    // The four held requests were sent at the start (answered 700 ms later, in the next slice's time):
    // the first slice is theirs alone, since each connection waited for its answer before sending again.
    expect(slices[0]).toMatchObject({ atMs: 0, n: 4, over50: 4 });
    expect(slices[0].p50).toBeGreaterThanOrEqual(690);
    // The rest were answered at once: more answers than the opening's, each slice's p50 far below
    // its 700 ms (how many depends on how busy the machine is; the last slice may hold only a few).
    const rest = slices.slice(1);
    expect(rest.length).toBeGreaterThanOrEqual(2);
    expect(rest.reduce((n, s) => n + s.n, 0)).toBeGreaterThan(5 * slices[0].n);
    for (const s of rest) expect(s.p50).toBeLessThan(350);
  });

  it('keeps no timeline unless asked', async () => {
    const r = await load({ url, connections: 2, durationSeconds: 1, warmupSeconds: 0 });
    expect(r.timeline).toBeUndefined();
  });
});
