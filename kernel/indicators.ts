/**
 * The read port trial reports count through (reports/). The caller cuts every interval
 * into cells first (one period × one week or month), so the store only counts inside the
 * slices it is given: a slice is released, assigned time, so what the store counts is
 * what the consent rule lets the audience see (kernel/consent.ts). Times are epoch ms,
 * intervals half-open.
 */

/** Where a slice belongs: a trial period ('baseline', 'intervention', ...) and the start of its week or month. */
export interface CellKey {
  readonly period: string;
  readonly bucket: number;
}

/** A participant's released, assigned time inside one cell. */
export interface ParticipantSlice extends CellKey {
  readonly participantId: string;
  readonly from: number;
  readonly to: number;
}

/** A device's assigned, released time inside one cell, and how often its profile expects a record. */
export interface DeviceSlice extends ParticipantSlice {
  readonly deviceId: string;
  readonly intervalMs: number;
}

/** A whole UTC day a participant was observed with a device of the measurement's family. */
export interface DaySlice extends CellKey {
  readonly participantId: string;
  readonly day: number;
  readonly measurement: string;
  /** The alert code of the hub's "measurement not reported" alarm for it (VKP 5.3.2). */
  readonly lateAlertCode: string;
}

/**
 * A whole UTC day a participant was observed with a device of the fluid-balance family,
 * with the clinician's target that held on it (reports/slices.ts says which one).
 */
export interface FluidDaySlice extends CellKey {
  /** The indicator it is counted for. */
  readonly key: string;
  readonly participantId: string;
  readonly day: number;
  /** The measurements whose day's sums are the intake and the output (mL). */
  readonly intake: string;
  readonly output: string;
  /** The day's net balance (intake − output, mL) is within the target when inside [minNetMl, maxNetMl]; null: no bound on that side. */
  readonly minNetMl: number | null;
  readonly maxNetMl: number | null;
}

export interface IndicatorQuery {
  readonly trialId: string;
  /** The device the hub's own alarm events are stored under (alarms/dataset-events.ts). */
  readonly alarmSourceId: string;
  readonly participants: readonly ParticipantSlice[];
  readonly devices: readonly DeviceSlice[];
  readonly days: readonly DaySlice[];
  readonly fluidDays: readonly FluidDaySlice[];
  /** Each summarised alone: alarm events whose attributes.secondsSinceRaised are summarised together under `key`. */
  readonly durations: readonly { readonly key: string; readonly events: readonly string[] }[];
  /** Upper bounds (s) of the response-time histogram's bins; one more bin holds the rest. */
  readonly histogramBounds: readonly number[];
}

/** Events of one participant in one cell, by name and alert code; `hub` for the hub's alarm events. */
export interface EventCount extends CellKey {
  readonly participantId: string;
  readonly hub: boolean;
  /** The device that measured it; for the hub's alarm events, the device that raised the alarm (null if none). */
  readonly deviceId: string | null;
  readonly name: string;
  readonly alertCode: string | null;
  readonly count: number;
}

/** p50 and p90 of seconds since raised; bucket null: the whole period. */
export interface DurationSummary {
  readonly period: string;
  readonly bucket: number | null;
  readonly key: string;
  readonly n: number;
  readonly participants: number;
  readonly p50: number;
  readonly p90: number;
}

export interface HistogramBin {
  readonly period: string;
  readonly key: string;
  /** Index into histogramBounds; histogramBounds.length: beyond the last bound. */
  readonly bin: number;
  readonly count: number;
}

export interface DayCount extends CellKey {
  readonly participantId: string;
  readonly measurement: string;
  readonly days: number;
  readonly onTime: number;
}

/** Of a participant's fluid days in one cell: those with an intake and an output reading, and of them those within the target. */
export interface FluidDayCount extends CellKey {
  readonly key: string;
  readonly participantId: string;
  readonly days: number;
  readonly within: number;
}

export interface DeviceCount extends CellKey {
  readonly deviceId: string;
  readonly participantId: string;
  readonly records: number;
  /** Expected intervals of the slice holding at least one record. */
  readonly intervalsCovered: number;
}

export interface RejectionCell extends CellKey {
  readonly deviceId: string;
  readonly participantId: string;
  readonly code: string;
  readonly count: number;
}

export interface LateDoseCount extends CellKey {
  readonly participantId: string;
  readonly count: number;
}

export interface IndicatorCounts {
  readonly events: readonly EventCount[];
  readonly lateDoses: readonly LateDoseCount[];
  readonly durations: readonly DurationSummary[];
  readonly histogram: readonly HistogramBin[];
  readonly days: readonly DayCount[];
  readonly fluidDays: readonly FluidDayCount[];
  readonly devices: readonly DeviceCount[];
  readonly rejections: readonly RejectionCell[];
}

/** Read-only; one snapshot per call. */
export interface IndicatorReader {
  indicatorCounts(query: IndicatorQuery): Promise<IndicatorCounts>;
}
