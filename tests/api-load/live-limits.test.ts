import { afterAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../kernel/audit.js';
import { startLive, type LiveFixture } from '../helpers/live.js';
import { until } from '../helpers/poll.js';

/**
 * Live streams under abuse, on real HTTP against a listening server: aborted requests
 * leave no subscription behind, streams are capped per token and in all with a 429 the
 * caller can act on, and closing the app ends every open stream instead of waiting for it.
 */
const fixtures: LiveFixture[] = [];
afterAll(async () => {
  for (const f of fixtures) await f.dispose();
});
const start = async (...args: Parameters<typeof startLive>) => {
  const f = await startLive(...args);
  fixtures.push(f);
  return f;
};

interface Opened {
  readonly res: Response;
  /** Resolves with everything the server sent, once it closes the stream. */
  readonly body: Promise<string>;
  abort(): void;
}

async function open(f: LiveFixture, token: string): Promise<Opened> {
  const ctl = new AbortController();
  const res = await fetch(`${f.base}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  const body = res.text().catch(() => '');
  return { res, body, abort: () => ctl.abort() };
}

/** Reads until the hello event has arrived, so the stream is surely open on the server. */
async function hello(f: LiveFixture, token: string): Promise<Opened & { rest: Promise<string> }> {
  const ctl = new AbortController();
  const res = await fetch(`${f.base}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = '';
  while (!seen.includes('event: hello')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream closed before hello: ${seen}`);
    seen += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return seen;
      seen += value;
    }
  })();
  return { res, body: rest, rest, abort: () => ctl.abort() };
}

describe('aborted live requests', () => {
  it('300 requests dropped after a few ms leave no subscription; a stream still opens and is freed after', async () => {
    const f = await start({ perToken: 400, total: 400 });
    const token = f.api.tokens.clinician;
    await Promise.allSettled(
      Array.from({ length: 300 }, async (_, i) => {
        const ctl = new AbortController();
        setTimeout(() => ctl.abort(), 1 + (i % 50));
        const res = await fetch(`${f.base}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
        await res.text();
      }),
    );
    await until('0 live subscribers', () => f.bus.subscribers() === 0);

    const s = await hello(f, token);
    await until('1 live subscribers', () => f.bus.subscribers() === 1);
    s.abort();
    await until('0 live subscribers', () => f.bus.subscribers() === 0);
  });
});

describe('a live stream behind a slow audit', () => {
  it('answers with its hello while the audit append waits; requests dropped meanwhile leave no subscription once it is written', async () => {
    const f = await start({ perToken: 400, total: 400 });
    const registry = f.api.registry as { audit: AuditLog };
    const real = registry.audit;
    // The audit log's serial writer, busy with other appends: this stream's entry waits.
    let release!: () => void;
    const busy = new Promise<void>((r) => (release = r));
    registry.audit = {
      ...real,
      append: async (e) => {
        await busy;
        return real.append(e);
      },
    };
    try {
      const first = await hello(f, f.api.tokens.clinician);
      await Promise.allSettled(
        Array.from({ length: 100 }, async (_, i) => {
          const ctl = new AbortController();
          setTimeout(() => ctl.abort(), 1 + (i % 20));
          const res = await fetch(`${f.base}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${f.api.tokens.clinician}` }, signal: ctl.signal });
          await res.text();
        }),
      );
      first.abort();
      release();
      await until('0 live subscribers', () => f.bus.subscribers() === 0);
      expect((await real.list({ limit: 1000, action: 'GET /v1/live' })).length).toBeGreaterThan(0);
    } finally {
      registry.audit = real;
      release();
    }
  });
});

describe('the stream cap', () => {
  it('answers 429 TOO_MANY_STREAMS with Retry-After per token and in all, and frees a slot when a stream closes', async () => {
    const f = await start({ perToken: 2, total: 3 });
    const { clinician, admin } = f.api.tokens;
    const a = await hello(f, clinician);
    await hello(f, clinician);

    const third = await open(f, clinician);
    expect(third.res.status).toBe(429);
    expect(Number(third.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(third.res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(await third.body)).toMatchObject({ status: 429, code: 'TOO_MANY_STREAMS' });

    await hello(f, admin);
    const overall = await open(f, admin);
    expect(overall.res.status).toBe(429);
    expect(JSON.parse(await overall.body)).toMatchObject({ code: 'TOO_MANY_STREAMS', detail: expect.stringContaining('3 live streams') });

    a.abort();
    await until('2 live subscribers', () => f.bus.subscribers() === 2);
    const again = await hello(f, clinician);
    expect(again.res.status).toBe(200);
  });
});

describe('closing the app', () => {
  it('ends every open stream with an end event and resolves', async () => {
    const f = await start();
    const streams = await Promise.all([f.api.tokens.clinician, f.api.tokens.clinician, f.api.tokens.admin].map((t) => hello(f, t)));
    expect(f.bus.subscribers()).toBe(3);
    await f.api.app.close();
    for (const s of streams) expect(await s.rest).toContain('event: end\ndata: {"reason":"the hub is shutting down"}');
    expect(f.bus.subscribers()).toBe(0);
  });
});
