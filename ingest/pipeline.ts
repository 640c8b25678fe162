import type { Logger } from 'pino';
import type { Decoder } from '../device-profiles/decode.js';
import type { ProfileSet } from '../device-profiles/load.js';
import { decoderFor } from '../device-profiles/versions.js';
import { messageIdOf } from '../kernel/message-id.js';
import type { DeviceDirectory, MessageSink, TelemetryStore } from '../kernel/ports.js';
import type { InboundMessage, MessageId, Point, Rejection, RejectionCode, WriteResult } from '../kernel/telemetry.js';
import { GroupCommit } from './group-commit.js';
import { IngestStats } from './stats.js';
import { payloadNotKept, RejectionSampler } from './rejection-sample.js';

export interface IngestDeps {
  /** A set that changes while ingest runs (device-profiles/versions.ts) is read afresh for every message. */
  readonly profiles: ProfileSet;
  readonly directory: DeviceDirectory;
  readonly store: TelemetryStore;
  readonly logger: Logger;
  readonly batch: { readonly maxBatch: number; readonly maxPending: number };
  /** Raw payload kept on a rejection, at most this many bytes. */
  readonly maxRejectedPayloadBytes: number;
  /** Raw payloads kept per device, code and hour (ingest/rejection-sample.ts); omitted = every one. */
  readonly rejectionSamplesPerHour?: number;
  /** The store acknowledges on a durable queue and reports what it stored later (ingest/stats.ts). */
  readonly storedOnDelivery?: boolean;
}

/**
 * One decided message: its points and the rejections that explain every record or field
 * that did not become one (promise 2). A message of many records can have both.
 */
export interface Decided {
  readonly id: MessageId;
  readonly deviceId: string;
  readonly receivedAt: number;
  readonly points: readonly Point[];
  readonly rejections: readonly Rejection[];
}

export type CommitListener = (committed: readonly Decided[]) => void;

export interface Ingest {
  /** The broker's sink: decides the message and resolves once it is committed. */
  readonly accept: MessageSink;
  /** Records a rejection the broker decided (oversized payload, foreign topic); resolves once committed. */
  reject(message: InboundMessage, code: RejectionCode, detail?: string): Promise<void>;
  onCommit(listener: CommitListener): () => void;
  readonly stats: IngestStats;
  close(): Promise<void>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Raw payload as text for the vendor to read; bytes that are not UTF-8 are kept as base64. */
function rawText(payload: Buffer, max: number): string {
  const slice = payload.subarray(0, max);
  try {
    return utf8.decode(slice);
  } catch {
    return `base64:${slice.toString('base64')}`;
  }
}

/** What the vendor reads about a message the broker refused. */
function brokerRejectionDetail(m: InboundMessage, code: RejectionCode): string {
  switch (code) {
    case 'PAYLOAD_TOO_LARGE':
      return `payload of ${m.payload.length} bytes is over the limit`;
    case 'TOPIC_NOT_ALLOWED':
      return `topic ${m.topic} is not allowed for this device`;
    default:
      return code;
  }
}

export function createIngest(deps: IngestDeps): Ingest {
  const log = deps.logger.child({ component: 'ingest' });
  const stats = new IngestStats({ storedOnDelivery: deps.storedOnDelivery });
  const listeners = new Set<CommitListener>();
  const perHour = deps.rejectionSamplesPerHour;
  const sampler = perHour === undefined ? undefined : new RejectionSampler({ perHour });

  const commits = new GroupCommit<Decided, WriteResult>({
    maxBatch: deps.batch.maxBatch,
    maxPending: deps.batch.maxPending,
    write: (entries) =>
      deps.store.write({
        messages: entries.map((e) => ({ id: e.id, deviceId: e.deviceId, receivedAt: e.receivedAt })),
        points: entries.flatMap((e) => e.points),
        rejections: entries.flatMap((e) => e.rejections),
      }),
    onCommitted: (entries, result) => {
      stats.committed(entries.length, result);
      for (const l of listeners) {
        try {
          l(entries);
        } catch (e) {
          log.error({ err: e }, 'commit listener failed');
        }
      }
    },
    onFailed: (entries, err) => {
      stats.failedBatch(entries.length);
      log.error({ err, messages: entries.length }, 'store write failed; messages not acknowledged');
    },
  });

  function rejection(m: InboundMessage, id: MessageId, profileId: string | null, code: RejectionCode, path: string, message: string): Rejection {
    // The attribution a point of this message would have had (decode() below): the raw
    // payload is about whoever the device measured, and is released under their consent.
    const { siteId, roomId, trialId, participantId } = deps.directory.attribution(m.deviceId, m.receivedAt);
    return {
      messageId: id,
      deviceId: m.deviceId,
      profileId,
      siteId,
      roomId,
      trialId,
      participantId,
      topic: m.topic,
      code,
      path,
      message,
      payload: !sampler || sampler.keepsPayload(m.deviceId, code, m.receivedAt) ? rawText(m.payload, deps.maxRejectedPayloadBytes) : payloadNotKept(perHour!),
      receivedAt: m.receivedAt,
    };
  }

  function decide(m: InboundMessage): Decided {
    const id = messageIdOf(m.deviceId, m.topic, m.payload);
    const base = { id, deviceId: m.deviceId, receivedAt: m.receivedAt };
    const profileId = deps.directory.profileOf(m.deviceId);
    const decoder: Decoder | undefined = profileId === undefined ? undefined : decoderFor(deps.profiles, m.deviceId, profileId);
    if (!decoder) {
      return { ...base, points: [], rejections: [rejection(m, id, profileId ?? null, 'TOPIC_NOT_ALLOWED', '', 'device or its profile is not registered')] };
    }
    // Defence in depth: the broker already refuses foreign topics, a split deployment relies on it too.
    if (!decoder.publishesOn(m.deviceId, m.topic)) {
      return {
        ...base,
        points: [],
        rejections: [rejection(m, id, decoder.profile.id, 'TOPIC_NOT_ALLOWED', '', `topic ${m.topic} is not one of the profile's topics`)],
      };
    }
    const result = decoder.decode({
      messageId: id,
      deviceId: m.deviceId,
      topic: m.topic,
      payload: m.payload,
      receivedAt: m.receivedAt,
      attribution: deps.directory.attribution(m.deviceId, m.receivedAt),
    });
    // Every stored point names the profile version that decoded it.
    for (const p of result.points) (p as { profileVersion?: string }).profileVersion = decoder.profile.version;
    if (result.ok) return { ...base, points: result.points, rejections: [] };
    return { ...base, points: result.points, rejections: result.problems.map((p) => rejection(m, id, decoder.profile.id, p.code, p.path, p.message)) };
  }

  function submit(d: Decided): Promise<void> {
    stats.decided(d);
    for (const r of d.rejections) log.debug({ deviceId: d.deviceId, code: r.code, path: r.path }, 'message rejected');
    return commits.enqueue(d);
  }

  return {
    accept: async (m) => {
      for (let wait = commits.room(); wait; wait = commits.room()) await wait;
      return submit(decide(m));
    },
    reject: (m, code, detail = brokerRejectionDetail(m, code)) => {
      const id = messageIdOf(m.deviceId, m.topic, m.payload);
      const profileId = deps.directory.profileOf(m.deviceId) ?? null;
      return submit({ id, deviceId: m.deviceId, receivedAt: m.receivedAt, points: [], rejections: [rejection(m, id, profileId, code, '', detail)] });
    },
    onCommit: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    stats,
    close: () => commits.close(),
  };
}
