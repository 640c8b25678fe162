import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveBus } from '../../alarms/live-bus.js';
import type { Reading } from '../../kernel/telemetry.js';
import { startLive, type LiveFixture } from '../helpers/live.js';
import { weightReading } from '../helpers/payloads.js';
import type { ApiFixture } from './fixture.js';

/**
 * A live stream lasts only as long as its token: revoked or expired, the stream gets an
 * `end` event and closes, while a stream of a valid token goes on. Real HTTP on a
 * listening server, read with fetch as the ward board's EventSource would.
 */
let live: LiveFixture;
let f: ApiFixture;
let bus: LiveBus;
let base: string;

beforeAll(async () => {
  live = await startLive();
  ({ api: f, bus, base } = live);
});
afterAll(async () => live?.dispose());

interface Stream {
  /** Named events so far, in order. */
  readonly events: { event: string; data: Record<string, unknown> }[];
  /** Resolves when the server closes the stream. */
  readonly ended: Promise<void>;
  until(predicate: () => boolean): Promise<void>;
  abort(): void;
}

async function open(token: string): Promise<Stream> {
  const ctl = new AbortController();
  const res = await fetch(`${base}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  expect(res.status).toBe(200);
  expect([res.headers.get('cache-control'), res.headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff']);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: Stream['events'] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) break;
      buffer += value;
      for (let i: number; (i = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(i + 2)) {
        const block = buffer.slice(0, i).split('\n');
        const event = block.find((l) => l.startsWith('event: '))?.slice(7);
        const data = block.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
      for (const w of waiters) w();
    }
    for (const w of waiters) w();
  })();
  const until = (predicate: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => predicate() && (waiters.delete(check), resolve());
      waiters.add(check);
      check();
    });
  return { events, ended, until, abort: () => ctl.abort() };
}

const weight = (value: number): Reading => weightReading(BigInt(9000 + value), Date.now(), { receivedAt: Date.now(), value });

describe('a live stream ends with its token', () => {
  it('a revoked token: end event, stream closed; a valid token keeps streaming', async () => {
    const issued = await f.registry.issueToken({ role: 'clinician', siteIds: ['site-a'], label: 'night shift', expiresAt: null });
    const doomed = await open(issued.token);
    const valid = await open(f.tokens.clinician);
    await doomed.until(() => doomed.events.some((e) => e.event === 'hello'));

    expect((await f.call({ method: 'DELETE', url: `/v1/tokens/${issued.id}`, token: f.tokens.admin })).statusCode).toBe(204);
    await doomed.ended;
    expect(doomed.events.at(-1)).toEqual({ event: 'end', data: { reason: 'token revoked or expired' } });

    bus.publish({ kind: 'point', point: weight(71) });
    await valid.until(() => valid.events.some((e) => e.event === 'reading' && e.data.value === 71));
    expect(doomed.events.filter((e) => e.event === 'reading')).toEqual([]);
    valid.abort();
  });

  it('an expired token: end event, stream closed', async () => {
    const issued = await f.registry.issueToken({ role: 'clinician', siteIds: ['site-a'], label: 'visitor', expiresAt: Date.now() + 1_000 });
    const stream = await open(issued.token);
    await stream.ended;
    expect(stream.events.map((e) => e.event).filter((e) => e !== 'heartbeat')).toEqual(['hello', 'end']);
  });
});
