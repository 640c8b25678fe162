import type { Point as Line, WriteApi } from '@influxdata/influxdb-client';
import type { CommittedDelivery } from '../../kernel/committed-wire.js';
import type { ConsentReader } from '../../kernel/consent.js';
import { HubError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/log.js';
import type { GrafanaMirror, TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { ident, str } from './influxql.js';
import { participantTags, type ParticipantTags } from './participant-tag.js';
import { QueryClient } from './query-client.js';
import { canRebuildShards, keepAllBut, ShardRebuilds } from './shard-rebuild.js';
import { messageLine, pointLine, preferredSlot } from './schema.js';
import { awaitedWriteApi, LINES_PER_REQUEST } from './telemetry-store.js';

/**
 * Grafana's own bucket (compose: INFLUX_GRAFANA_BUCKET), filled from the split API's
 * commit feed so that Grafana, which has no notion of consent, only ever holds what the
 * ward may show: a point about a participant is copied only while the participant holds
 * care.live for the time it was measured (the ward's rule, api/routes/live-access.ts),
 * device data (no participant) always. Device-health readings and events are copied for
 * every device with the trial and participant tags left out, so every operator sees
 * every device's health. Same measurements, tags and fields as the main bucket
 * (stores/influx/schema.ts), so the dashboards' queries stay as they are.
 */
/** Readings and events about the device itself, not the person using it. Extend with the catalogue (kernel/measurements.ts). */
export const DEVICE_HEALTH_NAMES: readonly string[] = [
  'battery_level',
  'mains_power',
  'device_temperature',
  'device_uptime',
  'battery_low',
  'battery_empty',
  'mains_lost',
  'mains_restored',
  'jam',
  'sensor_blocked',
  'no_contact',
];

export interface GrafanaMirrorOptions {
  readonly url: string;
  readonly token: string;
  readonly org: string;
  readonly bucket: string;
  /** The bucket's InfluxQL database (DBRP mapping on 2.x), which deletes go to. */
  readonly database: string;
  readonly consent: ConsentReader;
  /** The telemetry store's participant tag key: the bucket holds tags, never ids (participant-tag.ts). */
  readonly participantKey: Buffer;
  /** The hub's own store, which refresh() copies from. */
  readonly source: Pick<TelemetryStore, 'points'>;
  readonly logger: Logger;
  readonly deviceHealthNames?: readonly string[];
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

export function openGrafanaMirror(o: GrafanaMirrorOptions): GrafanaMirror {
  for (const k of ['url', 'org', 'bucket', 'database'] as const) {
    if (!o[k]) throw new HubError('CONFIG_INVALID', `the Grafana mirror needs its InfluxDB ${k}`);
  }
  return new InfluxGrafanaMirror(o);
}

class InfluxGrafanaMirror implements GrafanaMirror {
  readonly #o: GrafanaMirrorOptions;
  readonly #health: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #q: QueryClient;
  readonly #writeApi: WriteApi;
  readonly #tags: ParticipantTags;
  /** Participants whose points must still be deleted (a delete that failed). */
  readonly #pending = new Set<string>();
  /** Of those, the erased ones, whose shards are rebuilt too where the server can (1.x, shard-rebuild.ts). */
  readonly #erasing = new Set<string>();
  readonly #rebuilds: ShardRebuilds;
  readonly #leaseApi: WriteApi;
  #canRebuild: boolean | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(o: GrafanaMirrorOptions) {
    const timeoutMs = o.timeoutMs ?? 10_000;
    this.#o = o;
    this.#health = new Set(o.deviceHealthNames ?? DEVICE_HEALTH_NAMES);
    this.#now = o.now ?? Date.now;
    this.#log = o.logger.child({ component: 'grafana-mirror' });
    this.#q = new QueryClient({ url: o.url, token: o.token, database: o.database, timeoutMs });
    this.#tags = participantTags(o.participantKey);
    // As the telemetry store writes: no client retries or timed flushes.
    this.#writeApi = awaitedWriteApi(o, timeoutMs);
    // Only this mirror writes the bucket, and its writes are serialised with forget(): the lease keeps other erasers out.
    this.#leaseApi = awaitedWriteApi(o, timeoutMs);
    this.#rebuilds = new ShardRebuilds({ q: this.#q, database: o.database, send: (lines) => this.#write(lines, this.#leaseApi) });
  }

  copy(deliveries: readonly CommittedDelivery[]): Promise<void> {
    return this.#serialised(async () => {
      await this.#retryPending().catch((err: unknown) =>
        this.#log.error({ err, event: 'grafana_forget_failed' }, "a participant's points are still in the Grafana bucket; trying again with the next copy"),
      );
      try {
        await this.#write(await this.#linesOf(deliveries));
      } catch (err) {
        // Grafana's copy is a view; the main bucket holds everything. A lost copy must not
        // hold back the ward board's feed, so it is logged, not retried.
        this.#log.error({ err, event: 'grafana_copy_failed', deliveries: deliveries.length }, 'points not copied to the Grafana bucket');
      }
    });
  }

  forget(participantId: string): Promise<void> {
    // '' would match every point without a participant (an absent tag reads as '').
    if (!participantId) return Promise.reject(new HubError('VALIDATION_FAILED', 'participantId must not be empty'));
    this.#pending.add(participantId);
    this.#erasing.add(participantId);
    return this.#serialised(() => this.#retryPending());
  }

  refresh(participantId: string, trialId: string): Promise<void> {
    if (!participantId) return Promise.reject(new HubError('VALIDATION_FAILED', 'participantId must not be empty'));
    this.#pending.add(participantId);
    return this.#serialised(async () => {
      await this.#retryPending();
      const windows = (await this.#o.consent.windows(trialId, 'care.live', this.#now())).filter((w) => w.participantId === participantId);
      if (windows.length === 0) return;
      let batch: Point[] = [];
      const flush = async (): Promise<void> => {
        // One delivery per point: each leaves the marker its message already has (an overwrite).
        await this.#write(await this.#linesOf(batch.map((p) => ({ messageId: p.messageId, points: [p] }))));
        batch = [];
      };
      for await (const p of this.#o.source.points({ release: { windows, includeDeviceData: false } })) {
        batch.push(p);
        if (batch.length === LINES_PER_REQUEST) await flush();
      }
      if (batch.length > 0) await flush();
    });
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#writeApi.close().catch(() => undefined);
    await this.#leaseApi.close().catch(() => undefined);
  }

  /**
   * Serialised with the copies: a copy decided before a withdrawal is written before the
   * delete runs, and one decided after it asks the consent reader afresh.
   */
  #serialised(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(lines: readonly Line[], api = this.#writeApi): Promise<void> {
    for (let i = 0; i < lines.length; i += LINES_PER_REQUEST) {
      api.writePoints(lines.slice(i, i + LINES_PER_REQUEST));
      await api.flush();
    }
  }

  async #retryPending(): Promise<void> {
    for (const participantId of [...this.#pending]) {
      const tag = this.#tags.encode(participantId);
      const theirs = `${ident('participant')} = ${str(tag)}`;
      if (this.#erasing.has(participantId) && (this.#canRebuild ??= await canRebuildShards(this.#q))) {
        await this.#rebuilds.rebuild(await this.#rebuilds.shardsHolding(['reading', 'event'], theirs), keepAllBut(tag));
      }
      // The InfluxQL delete the telemetry store's eraseParticipant uses (1.x, and 2.x's /query).
      await this.#q.run(['reading', 'event'].map((m) => `DELETE FROM ${ident(m)} WHERE ${theirs}`));
      this.#pending.delete(participantId);
      this.#erasing.delete(participantId);
      // No id: it is what the delete removes (as erasure logs counts only).
      this.#log.info({ event: 'grafana_forgot', pending: this.#pending.size }, "a participant's points were deleted from the Grafana bucket");
    }
  }

  async #linesOf(deliveries: readonly CommittedDelivery[]): Promise<Line[]> {
    const now = this.#now();
    const answers = new Map<string, Promise<boolean>>();
    const shown = (participantId: string, at: number): Promise<boolean> => {
      const key = `${participantId}@${at}`;
      let answer = answers.get(key);
      if (!answer) answers.set(key, (answer = this.#o.consent.allows(participantId, 'care.live', at, now).catch(() => false)));
      return answer;
    };
    const lines: Line[] = [];
    for (const d of deliveries) {
      for (const p of d.points) {
        const copy = await this.#copyOf(p, shown);
        // The slot the main store prefers (stores/influx/schema.ts): a redelivered point overwrites its copy.
        if (copy) lines.push(pointLine(copy, preferredSlot(p.messageId, p.seq), this.#tags));
      }
      // The delivery marker the device-health dashboard counts, at the receive time every
      // part of a split message shares, so the parts write one marker.
      const first = d.points[0];
      if (first)
        lines.push(
          messageLine({ id: d.messageId, deviceId: first.deviceId, receivedAt: first.receivedAt }, 'accepted', first.receivedAt, preferredSlot(d.messageId, 0)),
        );
    }
    return lines;
  }

  async #copyOf(p: Point, shown: (participantId: string, at: number) => Promise<boolean>): Promise<Point | undefined> {
    if (this.#health.has(p.name)) return { ...p, trialId: null, participantId: null };
    if (p.participantId === null) return p;
    return (await shown(p.participantId, p.deviceTime)) ? p : undefined;
  }
}
