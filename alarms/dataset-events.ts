import { ALARM_SOURCE_ID, type Alarm } from '../kernel/alarms.js';
import { messageIdOf } from '../kernel/message-id.js';
import type { HubEvent, IngestBatch } from '../kernel/telemetry.js';

export type Transition = 'raised' | 'acknowledged' | 'resolved' | 'false_alarm';

/**
 * Alarms reach trial datasets as events in the telemetry store, attributed like the
 * data that raised them, so the dataset's consent rule (kernel/consent.ts) releases
 * them exactly as it releases that data, and erasure removes them with it. Comments and
 * who acted stay out: free text may name people. One message per alarm and transition,
 * so a retried write is stored once.
 */
export function datasetBatch(changes: readonly { alarm: Alarm; transition: Transition; at: number }[]): IngestBatch | null {
  const points: HubEvent[] = changes
    .filter((c) => c.alarm.trialId !== null)
    .map(({ alarm: a, transition, at }) => ({
      kind: 'event',
      messageId: messageIdOf(ALARM_SOURCE_ID, `alarms/${a.id}`, Buffer.from(transition)),
      seq: 0,
      deviceId: ALARM_SOURCE_ID,
      profileId: ALARM_SOURCE_ID,
      family: a.family,
      siteId: a.siteId,
      roomId: a.roomId,
      trialId: a.trialId,
      participantId: a.participantId,
      name: `alarm_${transition}`,
      deviceTime: at,
      receivedAt: at,
      clockSkewed: false,
      alertCode: a.alertCode,
      dispenseCode: null,
      severity: a.severity,
      attributes: {
        alarmId: a.id,
        rule: a.rule,
        event: a.event,
        sourceDeviceId: a.deviceId ?? '',
        triggerCount: a.triggerCount,
        secondsSinceRaised: Math.round((at - a.raisedAt) / 1000),
      },
    }));
  if (points.length === 0) return null;
  return { messages: points.map((p) => ({ id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt })), points, rejections: [] };
}
