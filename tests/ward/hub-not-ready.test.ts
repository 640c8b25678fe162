import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { mountSmallFs, type SmallFs } from '../disk/small-fs.js';

/**
 * A hub that cannot store behind a live socket is not live either (promise 6): the
 * stream's heartbeat carries the hub's readiness, the same checks as GET /readyz. The
 * hub's data folder is a small tmpfs of the test's own; filling it past the hard mark is
 * a real full disk (tests/disk/small-fs.ts).
 */
const MiB = 1024 * 1024;

let fs: SmallFs;
let hub: TestHub;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  fs = mountSmallFs(96 * MiB);
  const dataDir = join(fs.dir, 'data');
  mkdirSync(dataDir);
  const mark = String(16 * MiB);
  hub = await startTestHub({ ARENA_DATA_DIR: dataDir, ARENA_DISK_HARD_MIN_BYTES: mark, ARENA_DISK_SOFT_MIN_BYTES: mark, ARENA_DISK_CHECK_MS: '100' });
  expect((await hub.api('/v1/sites', { body: { id: 'ward-7', name: 'Sengepost 7', kind: 'patient-room' } })).status).toBe(201);
  expect((await hub.api('/v1/sites/ward-7/rooms', { body: { id: 'r1', name: 'Rom 701', beds: 1 } })).status).toBe(201);
  const token = (await hub.api('/v1/tokens', { body: { role: 'clinician', siteIds: ['ward-7'], label: 'Ward 7' } })).body.token;
  browser = await launchChromium();
  page = await (await browser.newContext({ locale: 'en-GB' })).newPage();
  await page.goto(`http://127.0.0.1:${hub.apiPort}/ward?site=ward-7#token=${token}`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await hub?.dispose();
  fs?.unmount();
});

describe('a hub that is not ready behind a live stream', () => {
  it('makes the board say it is not live, while the stream stays open, and live again once the hub is ready', async () => {
    fs.fill(4 * MiB);
    // The disk watch looks every 100 ms: /readyz says so first, then the next heartbeat.
    for (let i = 0; (await fetch(`http://127.0.0.1:${hub.apiPort}/readyz`)).status !== 503; i++) {
      if (i > 100) throw new Error('/readyz never answered 503 on a full disk');
      await page.waitForTimeout(100);
    }
    await page.waitForSelector('body[data-live="stale"] #conn[data-state="not-ready"]', { timeout: 15_000 });
    expect(await page.textContent('#stale')).toContain('the hub is not taking data');

    fs.unfill();
    await page.waitForSelector('body[data-live="live"] #conn[data-state="live"]', { timeout: 15_000 });
  }, 45_000);
});
