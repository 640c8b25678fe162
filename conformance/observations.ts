import type { DeviceConnect, DeviceDisconnect, DevicePublish } from '../kernel/device-traffic.js';
import type { Point, Rejection, RejectionCode } from '../kernel/telemetry.js';

/** A point as a run keeps it: enough for the checks, nothing about who was measured. */
export interface ObservedPoint {
  readonly kind: Point['kind'];
  readonly name: string;
  readonly deviceTime: number;
  readonly value: number | null;
}

export interface ObservedRejection {
  readonly code: RejectionCode;
  readonly path: string;
  readonly message: string;
  /**
   * The raw payload only when the message was attributed to nobody (device data). A report
   * is a document handed on to procurement and test files: it keeps no participant's data,
   * whatever their consent, so erasure never has to find a copy in one.
   */
  readonly payload: string | null;
}

export interface ObservedMessage {
  /** The message id (kernel/message-id.ts) as text: a redelivery has the same. */
  readonly id: string;
  readonly at: number;
  readonly points: readonly ObservedPoint[];
  readonly rejections: readonly ObservedRejection[];
}

/** Everything a run saw of its device. Messages beyond MAX_MESSAGES are counted only. */
export interface Observations {
  readonly messages: ObservedMessage[];
  readonly publishes: DevicePublish[];
  /** The session in force when the run began (its `at` before the run's start), then each CONNECT during the run. */
  readonly connects: DeviceConnect[];
  readonly disconnects: DeviceDisconnect[];
  /** Messages beyond MAX_MESSAGES, counted but not kept. */
  overflow: number;
}

export const MAX_MESSAGES = 200_000;

export const emptyObservations = (session: DeviceConnect | undefined): Observations => ({
  messages: [],
  publishes: [],
  connects: session ? [session] : [],
  disconnects: [],
  overflow: 0,
});

/** One committed message of the run's device (ingest/pipeline.ts Decided), as the run keeps it. */
export function observeMessage(
  o: Observations,
  m: { readonly id: bigint; readonly receivedAt: number; readonly points: readonly Point[]; readonly rejections: readonly Rejection[] },
): void {
  if (o.messages.length >= MAX_MESSAGES) {
    o.overflow++;
    return;
  }
  o.messages.push({
    id: m.id.toString(),
    at: m.receivedAt,
    points: m.points.map((p) => ({ kind: p.kind, name: p.name, deviceTime: p.deviceTime, value: p.kind === 'reading' ? p.value : null })),
    rejections: m.rejections.map((r) => ({ code: r.code, path: r.path, message: r.message, payload: r.participantId === null ? r.payload : null })),
  });
}

export function observePublish(o: Observations, p: DevicePublish): void {
  if (o.publishes.length < MAX_MESSAGES) o.publishes.push(p);
}
