import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { adminPost, fluidTrial, HOUR } from '../helpers/trial.js';

// GET /metrics of the all-in-one hub, scraped and parsed as Prometheus would, before and
// after real MQTT traffic, a refused login, a fall, a live stream and a dataset export.

const SCRAPER = 'scraper-'.padEnd(40, '7');
const start = Date.now() - HOUR;
let hub: TestHub;
let secrets: ReadonlyMap<string, string>;
let researcher: string;
let clinician: string;

/** Samples of the text exposition format 0.0.4, keyed `name{label="value",…}` as exposed. */
function parseExposition(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
    } else if (line && !line.startsWith('#')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
      expect(m, `exposition line: ${line}`).not.toBeNull();
      samples.set(m![1]!, Number(m![2]));
    }
  }
  return { samples, types };
}

async function scrape(token: string | null = SCRAPER): Promise<{ status: number; samples: Map<string, number>; types: Map<string, string>; type: string }> {
  const res = await fetch(`http://127.0.0.1:${hub.apiPort}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, ...(res.status === 200 ? parseExposition(text) : { samples: new Map(), types: new Map() }) };
}

const value = (s: Map<string, number>, key: string): number => s.get(key) ?? 0;

beforeAll(async () => {
  hub = await startTestHub({ API_METRICS_TOKEN: SCRAPER });
  ({ secrets, researcher } = await fluidTrial(hub, {
    start,
    vendor: { id: 'vendor-a', name: 'Vendor A' },
    devices: [
      { id: 'AQ-M1', profileId: 'aquascale' },
      { id: 'RS3D-M1', profileId: 'roomsense-3d' },
    ],
  }));
  clinician = (await adminPost(hub)('/v1/tokens', { role: 'clinician', siteIds: ['ward'], label: 'Night nurse' })).token;
});
afterAll(async () => hub?.dispose());

describe('GET /metrics', () => {
  it('answers the scraper token and admin tokens only', async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape('not-a-token')).status).toBe(401);
    expect((await scrape(clinician)).status).toBe(403);
    expect((await scrape(researcher)).status).toBe(403);
    expect((await scrape(hub.adminToken)).status).toBe(200);
    const ok = await scrape();
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.types.get('arena_messages_rejected_total')).toBe('counter');
    expect(ok.types.get('arena_commit_latency_seconds')).toBe('histogram');
    expect(value(ok.samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('moves with real MQTT traffic: accepted, rejected by code, commit latency, connections, refusals, open alarms', async () => {
    const before = (await scrape()).samples;
    const scale = await connect(hub.mqttPort, 'AQ-M1', secrets.get('AQ-M1')!);
    const sensor = await connect(hub.mqttPort, 'RS3D-M1', secrets.get('RS3D-M1')!);
    try {
      const weight = (unit: string) => JSON.stringify({ serial: 'AQ-M1', measured_at: new Date().toISOString(), kind: 'weight', value: 72450, unit });
      await publish(scale, 'devices/AQ-M1/measurements', weight('g'));
      await publish(scale, 'devices/AQ-M1/measurements', weight('stone'));
      await publish(
        sensor,
        'devices/RS3D-M1/events',
        JSON.stringify({ sensor: 'RS3D-M1', time: Date.now(), fw: '2.4.1', event: { type: 'FALL_DETECTED', confidence: 0.9, zone: 'floor-bedside' } }),
      );
      await expect(connect(hub.mqttPort, 'AQ-M1', 'wrong-secret', { clientId: 'guess' })).rejects.toMatchObject({ code: 4 });

      const during = (await scrape()).samples;
      expect(value(during, 'arena_messages_accepted_total') - value(before, 'arena_messages_accepted_total')).toBe(2);
      expect(value(during, 'arena_messages_rejected_total{code="UNIT_UNKNOWN"}') - value(before, 'arena_messages_rejected_total{code="UNIT_UNKNOWN"}')).toBe(1);
      expect(value(during, 'arena_messages_acknowledged_total') - value(before, 'arena_messages_acknowledged_total')).toBe(3);
      expect(value(during, 'arena_commit_latency_seconds_count') - value(before, 'arena_commit_latency_seconds_count')).toBe(3);
      expect(value(during, 'arena_commit_latency_seconds_sum')).toBeGreaterThan(0);
      expect(value(during, 'arena_mqtt_connections')).toBe(2);
      expect(value(during, 'arena_mqtt_login_refusals_total{return_code="4"}') - value(before, 'arena_mqtt_login_refusals_total{return_code="4"}')).toBe(1);
      expect(during.has('arena_journal_waiting_bytes')).toBe(true);
      expect(value(during, 'arena_mqtt_publishes_in_flight')).toBe(0);
      // 4.1 Fall (VKP), opened by the alarm engine in the same turn as the commit.
      expect(value(during, 'arena_alarms_open{alert_code="4.1"}')).toBe(1);
    } finally {
      await end(scale);
      await end(sensor);
    }
    await until('both devices gone', async () => value((await scrape()).samples, 'arena_mqtt_connections') === 0);
  });

  it('counts live streams while they are open, and dataset exports with their duration', async () => {
    const abort = new AbortController();
    const stream = await fetch(`http://127.0.0.1:${hub.apiPort}/v1/live?siteId=ward`, {
      headers: { authorization: `Bearer ${clinician}` },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    await stream.body!.getReader().read(); // the hello event: the stream is open
    expect(value((await scrape()).samples, 'arena_live_streams')).toBe(1);
    abort.abort();
    await until('the stream closed', async () => value((await scrape()).samples, 'arena_live_streams') === 0);

    const before = (await scrape()).samples;
    expect((await hub.api('/v1/trials/fluid/dataset?format=csv', { token: researcher })).status).toBe(200);
    // Counted when the server has finished sending (fastify's onResponse), which may come
    // just after the client has the last byte.
    const exportsOf = (samples: typeof before): number => value(samples, 'arena_dataset_exports_total{status="200"}');
    const after = await until('the export counted', async () => {
      const now = (await scrape()).samples;
      return exportsOf(now) > exportsOf(before) && now;
    });
    expect(value(after, 'arena_dataset_exports_total{status="200"}') - value(before, 'arena_dataset_exports_total{status="200"}')).toBe(1);
    expect(value(after, 'arena_dataset_export_duration_seconds_count') - value(before, 'arena_dataset_export_duration_seconds_count')).toBe(1);
  });
});
