import type { DeviceConnect } from './device-traffic.js';

/**
 * Conformance runs (promise 7): for a set time the hub watches one device's real traffic
 * and judges it against its profile, check by check, each with its rule and evidence.
 */
export type RunStatus = 'running' | 'passed' | 'failed' | 'interrupted';
export type CheckOutcome = 'pass' | 'fail' | 'not-applicable';

export interface ConformanceCheck {
  /** Stable id, e.g. "last-will": what a test or a procurement file refers to. */
  readonly id: string;
  readonly title: string;
  /** The pass/fail rule, in words, with its figures. */
  readonly rule: string;
  readonly outcome: CheckOutcome;
  /** What was seen, in words. */
  readonly finding: string;
  readonly evidence: Readonly<Record<string, unknown>>;
}

export interface ConformanceReport {
  readonly deviceId: string;
  readonly profileId: string;
  readonly profileVersion: string;
  readonly hubVersion: string;
  readonly from: number;
  readonly to: number;
  /** What the device was judged against: its profile's expected interval and the hub's clock skew allowance. */
  readonly expectedIntervalS: number;
  readonly skewMs: number;
  readonly summary: {
    readonly messages: number;
    readonly points: number;
    readonly rejectedMessages: number;
    readonly rejections: number;
    readonly duplicates: number;
    readonly publishes: number;
    readonly connects: number;
    readonly disconnects: number;
  };
  readonly checks: readonly ConformanceCheck[];
  /** For the report's plots: each message's receive time, and each point's device clock offset (ms). */
  readonly series: { readonly arrivals: readonly number[]; readonly clockOffsetsMs: readonly number[] };
}

export interface ConformanceRun {
  readonly id: string;
  readonly deviceId: string;
  readonly vendorId: string;
  readonly profileId: string;
  readonly profileVersion: string;
  readonly hubVersion: string;
  readonly status: RunStatus;
  readonly startedAt: number;
  readonly endsAt: number;
  readonly endedAt: number | null;
  /** The token that started it. */
  readonly startedBy: string;
  /** Why a run ended otherwise than by its time (interrupted by a stop of the hub). */
  readonly note: string | null;
  readonly report: ConformanceReport | null;
}

export interface ConformanceRuns {
  create(run: ConformanceRun): Promise<void>;
  finish(
    id: string,
    end: { readonly status: Exclude<RunStatus, 'running'>; readonly endedAt: number; readonly note: string | null; readonly report: ConformanceReport | null },
  ): Promise<void>;
  get(id: string): Promise<ConformanceRun | undefined>;
  /** Newest first; only these devices' when given. */
  list(filter: { readonly deviceIds?: readonly string[]; readonly limit: number }): Promise<ConformanceRun[]>;
  /** Runs still marked running, when no process is watching them any more. */
  running(): Promise<ConformanceRun[]>;
}

/** The running hub's side of conformance runs, as the API uses it. */
export interface ConformanceService {
  start(input: { readonly deviceId: string; readonly durationS: number; readonly startedBy: string }): Promise<ConformanceRun>;
  get(id: string): Promise<ConformanceRun | undefined>;
  list(filter: { readonly deviceIds?: readonly string[]; readonly limit: number }): Promise<ConformanceRun[]>;
  /** The device's MQTT session now, if it is connected to this process's broker. */
  session(deviceId: string): DeviceConnect | undefined;
}
