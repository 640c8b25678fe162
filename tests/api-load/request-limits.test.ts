import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type ApiLimits } from '../../api/config.js';
import type { PointQuery, TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { startApi, type ApiFixture } from '../api/fixture.js';
import { until } from '../helpers/poll.js';

/**
 * Per-token and per-address rate limits, and the export limits: a flood from one caller
 * meets 429 with Retry-After while another caller is still served; exports beyond the
 * concurrency caps meet 429; an export larger than the temp space allowed is refused and
 * leaves no file. Real HTTP on a listening server.
 */
const started: { f: ApiFixture; dir?: string }[] = [];
afterAll(async () => {
  for (const { f, dir } of started) {
    await f.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

async function listening(limits: Partial<{ [K in keyof ApiLimits]: Partial<ApiLimits[K]> }>, extra: Parameters<typeof startApi>[0] = {}, dir?: string) {
  const merged: ApiLimits = {
    rate: { ...DEFAULT_LIMITS.rate, ...limits.rate },
    live: { ...DEFAULT_LIMITS.live, ...limits.live },
    exports: { ...DEFAULT_LIMITS.exports, ...limits.exports },
  };
  const f = await startApi({ ...extra, limits: merged });
  started.push({ f, dir });
  const base = await f.app.listen({ host: '127.0.0.1', port: 0 });
  const get = (path: string, token?: string) => fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { f, get };
}

async function expectRefusal(res: Response, code: string): Promise<void> {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(await res.json()).toMatchObject({ status: 429, code });
}

describe('rate limits', () => {
  it('a flood from one token meets 429 RATE_LIMITED with Retry-After; another token and /healthz are still served', async () => {
    const { f, get } = await listening({ rate: { max: 20 } });
    const statuses = await Promise.all(Array.from({ length: 40 }, () => get('/v1/trials/trial-1/codebook', f.tokens.researcher)));
    const refused = statuses.filter((r) => r.status === 429);
    expect(statuses.filter((r) => r.status === 200)).toHaveLength(20);
    expect(refused).toHaveLength(20);
    await expectRefusal(refused[0]!, 'RATE_LIMITED');

    expect((await get('/v1/trials/trial-1/codebook', f.tokens.vendorA)).status).toBe(200);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('requests without a valid token meet 429 per address; valid tokens do not use up that budget', async () => {
    const { f, get } = await listening({ rate: { addressMax: 10 } });
    for (let i = 0; i < 30; i++) expect((await get('/v1/trials/trial-1/codebook', f.tokens.researcher)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await get('/v1/trials/trial-1/codebook', 'not-a-token')).status);
    expect(statuses).toEqual([...Array<number>(10).fill(401), ...Array<number>(5).fill(429)]);
    await expectRefusal(await get('/v1/sites'), 'RATE_LIMITED');
    expect((await get('/healthz')).status).toBe(200);
  });
});

/** The fixture's store, with its point reads held until released: exports stay running while the test looks. */
function heldStore(inner: () => TelemetryStore) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let waiting = 0;
  const store = new Proxy({} as TelemetryStore, {
    get: (_, key: keyof TelemetryStore) =>
      key === 'points'
        ? (q: PointQuery): AsyncIterable<Point> => ({
            async *[Symbol.asyncIterator]() {
              waiting++;
              await gate;
              yield* inner().points(q);
            },
          })
        : inner()[key],
  });
  return { store, release, waiting: () => waiting };
}

describe('export limits', () => {
  it('exports beyond the per-token and the overall cap meet 429 TOO_MANY_EXPORTS; released, they complete and free their slots', async () => {
    let inner: TelemetryStore | undefined;
    const held = heldStore(() => inner!);
    const { f, get } = await listening({ exports: { perPrincipal: 2, total: 3 } }, { store: held.store });
    inner = f.store;
    const path = '/v1/trials/trial-1/dataset?format=csv';

    const running = [get(path, f.tokens.researcher), get(path, f.tokens.researcher), get(path, f.tokens.vendorA)];
    await until('three exports are held', () => held.waiting() === 3);
    const perToken = await get(path, f.tokens.researcher);
    await expectRefusal(perToken, 'TOO_MANY_EXPORTS');
    const overall = await get(path, f.tokens.vendorB);
    await expectRefusal(overall, 'TOO_MANY_EXPORTS');

    held.release();
    for (const res of await Promise.all(running)) {
      expect(res.status).toBe(200);
      await res.text();
    }
    // Freed once each file is sent (the server sees its read stream close just after the last byte).
    const served = (token: string): Promise<number> =>
      until('the export slot is freed', async () => {
        const res = await get(path, token);
        await res.arrayBuffer();
        return res.status !== 429 && res.status;
      });
    expect(await served(f.tokens.researcher)).toBe(200);
    expect(await served(f.tokens.vendorB)).toBe(200);
  });

  it('an export larger than API_EXPORT_TEMP_MAX_BYTES is refused with 413 EXPORT_TOO_LARGE and leaves no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arena-export-cap-'));
    const { f, get } = await listening({ exports: { tempMaxBytes: 64 } }, { exportDir: dir }, dir);
    const res = await get('/v1/trials/trial-1/dataset?format=csv', f.tokens.researcher);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'EXPORT_TOO_LARGE', detail: expect.stringContaining('API_EXPORT_TEMP_MAX_BYTES') });
    expect(readdirSync(dir)).toEqual([]);
  });
});
