import { randomBytes } from 'node:crypto';
import type { Decoder } from '../device-profiles/decode.js';
import type { ConformanceRun, ConformanceRuns, ConformanceService } from '../kernel/conformance.js';
import type { DeviceConnect, DeviceTraffic } from '../kernel/device-traffic.js';
import { HubError } from '../kernel/errors.js';
import type { Logger } from '../kernel/log.js';
import type { Point, Rejection } from '../kernel/telemetry.js';
import { evaluateRun, passed } from './evaluate.js';
import { emptyObservations, type Observations, observeMessage, observePublish } from './observations.js';

export interface RecorderDeps {
  readonly runs: ConformanceRuns;
  /** The device's vendor and profile; undefined for an unknown device. */
  readonly device: (deviceId: string) => Promise<{ readonly vendorId: string; readonly profileId: string } | undefined>;
  /** The profile version that decodes this device's messages now. */
  readonly decoder: (deviceId: string, profileId: string) => Decoder | undefined;
  readonly hubVersion: string;
  readonly skewMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** A committed message as ingest hands it on (ingest/pipeline.ts Decided). */
export interface CommittedMessage {
  readonly id: bigint;
  readonly deviceId: string;
  readonly receivedAt: number;
  readonly points: readonly Point[];
  readonly rejections: readonly Rejection[];
}

export interface Recorder extends ConformanceService {
  /** For the broker: every device session, publish and disconnection. */
  readonly traffic: DeviceTraffic;
  /** For ingest's commit listener. */
  committed(messages: readonly CommittedMessage[]): void;
  /** Ends the runs in progress as interrupted, each with the report of what it saw so far. */
  close(): Promise<void>;
}

export const MAX_DURATION_S = 7 * 86_400;
const INTERRUPTED_AT_START = 'the hub stopped while the run was in progress (not shut down cleanly); what it saw was lost';
const INTERRUPTED_AT_STOP = 'the hub was stopped before the run ended; the report covers the time until the stop';

interface Active {
  readonly run: ConformanceRun;
  readonly observations: Observations;
  readonly timer: NodeJS.Timeout;
}

/**
 * Conformance runs in the running hub: it watches the devices under a run through the
 * broker's session events and ingest's commits, and at the run's end judges what it saw
 * (conformance/evaluate.ts) and stores the report. A run that a stop cuts short ends as
 * interrupted, with its report so far; one a crash cut short is marked interrupted at the
 * next start.
 */
export async function openRecorder(deps: RecorderDeps): Promise<Recorder> {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'conformance' });
  for (const stale of await deps.runs.running()) {
    await deps.runs.finish(stale.id, { status: 'interrupted', endedAt: now(), note: INTERRUPTED_AT_START, report: null });
    log.warn({ runId: stale.id, deviceId: stale.deviceId }, 'conformance run interrupted by an unclean stop');
  }
  // The session in force per device, so that a run started on a connected device knows its keepalive and will.
  const sessions = new Map<string, DeviceConnect>();
  const active = new Map<string, Active>();
  const byDevice = (deviceId: string): Active | undefined => {
    for (const a of active.values()) if (a.run.deviceId === deviceId) return a;
    return undefined;
  };

  async function end(a: Active, interrupted: boolean): Promise<void> {
    if (!active.delete(a.run.id)) return;
    clearTimeout(a.timer);
    const endedAt = Math.min(now(), a.run.endsAt);
    const decoder = deps.decoder(a.run.deviceId, a.run.profileId);
    const report = decoder
      ? evaluateRun(a.observations, {
          deviceId: a.run.deviceId,
          profile: decoder.profile,
          hubVersion: a.run.hubVersion,
          from: a.run.startedAt,
          to: endedAt,
          skewMs: deps.skewMs,
        })
      : null;
    const status = interrupted ? 'interrupted' : report && passed(report) ? 'passed' : 'failed';
    const note = interrupted ? INTERRUPTED_AT_STOP : report ? null : `profile ${a.run.profileId} is no longer published`;
    await deps.runs.finish(a.run.id, { status, endedAt, note, report });
    log.info({ runId: a.run.id, deviceId: a.run.deviceId, status }, 'conformance run ended');
  }

  return {
    traffic: {
      connected(c) {
        sessions.set(c.deviceId, c);
        byDevice(c.deviceId)?.observations.connects.push(c);
      },
      published(p) {
        const a = byDevice(p.deviceId);
        if (a) observePublish(a.observations, p);
      },
      disconnected(d) {
        if (sessions.get(d.deviceId)?.at === d.connectedAt) sessions.delete(d.deviceId);
        byDevice(d.deviceId)?.observations.disconnects.push(d);
      },
    },
    committed(messages) {
      if (active.size === 0) return;
      for (const m of messages) {
        const a = byDevice(m.deviceId);
        if (a) observeMessage(a.observations, m);
      }
    },
    async start({ deviceId, durationS, startedBy }) {
      if (!Number.isInteger(durationS) || durationS < 1 || durationS > MAX_DURATION_S) {
        throw new HubError('VALIDATION_FAILED', `a run lasts 1 to ${MAX_DURATION_S} s`);
      }
      const device = await deps.device(deviceId);
      if (!device) throw new HubError('NOT_FOUND', `no device "${deviceId}"`);
      if (byDevice(deviceId)) throw new HubError('CONFLICT', `a conformance run of ${deviceId} is in progress`);
      const decoder = deps.decoder(deviceId, device.profileId);
      if (!decoder) throw new HubError('NOT_FOUND', `no device profile "${device.profileId}"`);
      const startedAt = now();
      const run: ConformanceRun = {
        id: `run-${randomBytes(9).toString('base64url')}`,
        deviceId,
        vendorId: device.vendorId,
        profileId: device.profileId,
        profileVersion: decoder.profile.version,
        hubVersion: deps.hubVersion,
        status: 'running',
        startedAt,
        endsAt: startedAt + durationS * 1000,
        endedAt: null,
        startedBy,
        note: null,
        report: null,
      };
      await deps.runs.create(run);
      const a: Active = {
        run,
        observations: emptyObservations(sessions.get(deviceId)),
        timer: setTimeout(() => {
          end(a, false).catch((err: unknown) => log.error({ err, runId: run.id }, 'conformance run could not be stored'));
        }, durationS * 1000),
      };
      active.set(run.id, a);
      log.info({ runId: run.id, deviceId, durationS }, 'conformance run started');
      return run;
    },
    get: (id) => deps.runs.get(id),
    session: (deviceId) => sessions.get(deviceId),
    list: (filter) => deps.runs.list(filter),
    async close() {
      for (const a of [...active.values()]) await end(a, true);
    },
  };
}
