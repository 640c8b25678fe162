import { Point as Line } from '@influxdata/influxdb-client';
import type { Family, HubEvent, MessageId, Point, Reading, Rejection, RejectionCode, Severity } from '../../kernel/telemetry.js';
import type { ParticipantTags } from './participant-tag.js';
import type { Row } from './query-client.js';

/**
 * The InfluxDB schema (documented in README.md; the Grafana test checks dashboards
 * against SCHEMA). Tags are the bounded, filterable dimensions; everything per message
 * is a field, so the series count grows with devices and places, never with messages.
 */
const POINT_TAGS = ['site', 'room', 'trial', 'participant', 'family', 'profile', 'device', 'name'] as const;
const IDENTITY = ['message_id', 'seq', 'slot'] as const;

export const SCHEMA = {
  reading: { tags: POINT_TAGS, fields: ['value', 'unit', 'attributes', ...IDENTITY, 'received_at', 'clock_skewed', 'profile_version'] },
  event: {
    tags: POINT_TAGS,
    fields: ['severity', 'alert_code', 'dispense_code', 'attributes', ...IDENTITY, 'received_at', 'clock_skewed', 'profile_version'],
  },
  rejection: { tags: ['site', 'room', 'trial', 'participant', 'device', 'profile', 'code'], fields: [...IDENTITY, 'topic', 'path', 'message', 'payload'] },
  message: { tags: ['device', 'status'], fields: [...IDENTITY, 'received_at'] },
} as const;

export type Measurement = keyof typeof SCHEMA;
export type PointMeasurement = 'reading' | 'event';

/** What every measurement is selected with: all its fields and tags. */
export const selectList = (m: Measurement): string[] => [...SCHEMA[m].fields, ...SCHEMA[m].tags];

// ---- timestamps: device ms plus a nanosecond slot ----

export const SLOTS = 1_000_000;

/**
 * InfluxDB keeps one point per measurement + tag set + timestamp, so the nanoseconds
 * below a point's millisecond (the slot) tell apart different points of one series in
 * the same millisecond. The preferred slot is (messageId mod 1000) * 1000 + seq; when
 * another message already holds it the writer takes the next free one (SlotTable).
 * A redelivered point finds its own slot again, so rewriting it overwrites, not adds.
 */
export const preferredSlot = (messageId: MessageId, seq: number): number => (Number(messageId % 1000n) * 1000 + seq) % SLOTS;

export const timestampOf = (ms: number, slot: number): string => (BigInt(ms) * 1_000_000n + BigInt(slot)).toString();

/** Identifies one series; absent and empty tags are both null, as queries return them. */
export const seriesKey = (m: Measurement, tags: Readonly<Record<string, unknown>>): string =>
  JSON.stringify([m, ...SCHEMA[m].tags.map((k) => (tags[k] === '' || tags[k] === undefined ? null : tags[k]))]);

/** Which slots of a series' millisecond are taken, and by which message/seq. */
export class SlotTable {
  readonly #taken = new Map<string, Map<number, string>>();
  readonly #own = new Map<string, number>();

  note(series: string, ms: number, slot: number, who: string): void {
    const at = `${series}@${ms}`;
    let taken = this.#taken.get(at);
    if (!taken) this.#taken.set(at, (taken = new Map()));
    taken.set(slot, who);
    this.#own.set(`${at}#${who}`, slot);
  }

  /** The slot `who` already holds there, else the first free one from `preferred` on. */
  claim(series: string, ms: number, who: string, preferred: number): number {
    const own = this.#own.get(`${series}@${ms}#${who}`);
    if (own !== undefined) return own;
    const taken = this.#taken.get(`${series}@${ms}`);
    let slot = preferred;
    for (let tries = 0; taken?.has(slot); tries++) {
      if (tries >= SLOTS) throw new Error('more than a million points of one series in one millisecond');
      slot = (slot + 1) % SLOTS;
    }
    this.note(series, ms, slot, who);
    return slot;
  }

  /** Records the slots already on the server, from rows selected with selectList(). */
  noteRows(m: Measurement, rows: readonly Row[]): void {
    for (const r of rows) this.note(seriesKey(m, r), num(r.time), num(r.slot), `${str(r.message_id)}/${num(r.seq)}`);
  }
}

export const who = (messageId: MessageId, seq: number): string => `${messageId}/${seq}`;

// ---- domain -> line protocol ----

/** The participant tag is never the id itself but its encryption (participant-tag.ts). */
const tagOf = (participantId: string | null, tags: ParticipantTags): string | null => (participantId === null ? null : tags.encode(participantId));
const idOf = (tag: unknown, tags: ParticipantTags): string | null => {
  const t = optStr(tag);
  return t === null ? null : tags.decode(t);
};

export function pointTags(p: Point, tags: ParticipantTags): Record<string, string | null> {
  return {
    site: p.siteId,
    room: p.roomId,
    trial: p.trialId,
    participant: tagOf(p.participantId, tags),
    family: p.family,
    profile: p.profileId,
    device: p.deviceId,
    name: p.name,
  };
}

export const rejectionTags = (r: Rejection, tags: ParticipantTags): Record<string, string | null> => ({
  site: r.siteId,
  room: r.roomId,
  trial: r.trialId,
  participant: tagOf(r.participantId, tags),
  device: r.deviceId,
  profile: r.profileId,
  code: r.code,
});

export const messageTags = (deviceId: string, status: 'accepted' | 'rejected'): Record<string, string | null> => ({ device: deviceId, status });

function line(m: Measurement, tags: Record<string, string | null>, ms: number, slot: number, messageId: MessageId, seq: number): Line {
  const l = new Line(m);
  // An absent or empty tag is simply not written; queries see it as null / ''.
  for (const [k, v] of Object.entries(tags)) if (v) l.tag(k, v);
  return l.stringField('message_id', messageId.toString()).intField('seq', seq).intField('slot', slot).timestamp(timestampOf(ms, slot));
}

export function pointLine(p: Point, slot: number, tags: ParticipantTags): Line {
  const l = line(p.kind, pointTags(p, tags), p.deviceTime, slot, p.messageId, p.seq)
    .intField('received_at', p.receivedAt)
    .booleanField('clock_skewed', p.clockSkewed);
  // A field, not a tag: a new version must not start new series for the same device.
  if (p.profileVersion) l.stringField('profile_version', p.profileVersion);
  if (p.kind === 'reading') {
    l.floatField('value', p.value).stringField('unit', p.unit);
    // Fields a profile keeps (`unmapped: keep`); most readings have none and write no field.
    if (p.attributes) l.stringField('attributes', JSON.stringify(p.attributes));
    return l;
  }
  l.intField('severity', p.severity).stringField('attributes', JSON.stringify(p.attributes));
  if (p.alertCode !== null) l.stringField('alert_code', p.alertCode);
  if (p.dispenseCode !== null) l.stringField('dispense_code', p.dispenseCode);
  return l;
}

export function rejectionLine(r: Rejection, seq: number, slot: number, tags: ParticipantTags): Line {
  const l = line('rejection', rejectionTags(r, tags), r.receivedAt, slot, r.messageId, seq)
    .stringField('topic', r.topic)
    .stringField('path', r.path)
    .stringField('message', r.message);
  // No payload field at all once erased: absent reads back as null.
  return r.payload === null ? l : l.stringField('payload', r.payload);
}

export function messageLine(m: { id: MessageId; deviceId: string; receivedAt: number }, status: 'accepted' | 'rejected', anchorMs: number, slot: number): Line {
  return line('message', messageTags(m.deviceId, status), anchorMs, slot, m.id, 0).intField('received_at', m.receivedAt);
}

// ---- rows -> domain ----

export function pointFromRow(kind: PointMeasurement, r: Row, tags: ParticipantTags): Point {
  const base = {
    messageId: BigInt(str(r.message_id)),
    seq: num(r.seq),
    deviceId: str(r.device),
    profileId: str(r.profile),
    family: str(r.family) as Family,
    siteId: optStr(r.site),
    roomId: optStr(r.room),
    trialId: optStr(r.trial),
    participantId: idOf(r.participant, tags),
    name: str(r.name),
    deviceTime: num(r.time),
    receivedAt: num(r.received_at),
    clockSkewed: r.clock_skewed === true,
    profileVersion: optStr(r.profile_version) ?? undefined,
  };
  if (kind === 'reading') {
    const attributes = optStr(r.attributes);
    const reading: Reading = {
      kind,
      ...base,
      value: num(r.value),
      unit: str(r.unit),
      ...(attributes ? { attributes: JSON.parse(attributes) as Reading['attributes'] } : {}),
    };
    return reading;
  }
  const event: HubEvent = {
    kind,
    ...base,
    alertCode: optStr(r.alert_code),
    dispenseCode: optStr(r.dispense_code),
    severity: num(r.severity) as Severity,
    attributes: JSON.parse(optStr(r.attributes) ?? '{}') as HubEvent['attributes'],
  };
  return event;
}

export function rejectionFromRow(r: Row, tags: ParticipantTags): Rejection {
  return {
    messageId: BigInt(str(r.message_id)),
    deviceId: str(r.device),
    profileId: optStr(r.profile),
    topic: str(r.topic),
    code: str(r.code) as RejectionCode,
    path: optStr(r.path) ?? '',
    message: optStr(r.message) ?? '',
    payload: r.payload === null || r.payload === undefined ? null : str(r.payload),
    receivedAt: num(r.time),
    siteId: optStr(r.site),
    roomId: optStr(r.room),
    trialId: optStr(r.trial),
    participantId: idOf(r.participant, tags),
  };
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`expected a string column, got ${v === null ? 'null' : typeof v}`);
  return v;
}

const optStr = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : str(v));

export function num(v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`expected a numeric column, got ${v === null ? 'null' : typeof v}`);
  return v;
}
