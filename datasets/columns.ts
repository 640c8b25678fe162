import type { DatasetColumnSpec } from '../kernel/ports.js';
import { ALARM_SOURCE_ID } from '../kernel/alarms.js';
import type { HubEvent, Point } from '../kernel/telemetry.js';
import type { Trial } from '../kernel/trials.js';

/**
 * The columns of a trial dataset, per audience. Researchers get a per-trial pseudonym
 * and the room; vendors get neither, nor anything else about whom or where. One list
 * drives the CSV header, the NDJSON keys, the Parquet schema and the codebook, so they
 * cannot drift apart.
 */
export type DatasetAudience = 'research' | 'vendor.telemetry';
/** The port's column types (kernel/ports.ts), so a store exporting by itself knows every one. */
export type ColumnType = DatasetColumnSpec['type'];
export type Cell = string | number | boolean | null;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  readonly audiences: readonly DatasetAudience[];
}

const BOTH: readonly DatasetAudience[] = ['research', 'vendor.telemetry'];
const RESEARCH: readonly DatasetAudience[] = ['research'];

export const COLUMNS: readonly Column[] = [
  {
    name: 'pseudonym',
    type: 'VARCHAR',
    audiences: RESEARCH,
    description:
      'The participant, pseudonymised for this trial and audience (HMAC-SHA256, 80 bits, hex); empty for device data (nobody assigned). Stable within the trial; unrelated to the same person in other trials.',
  },
  {
    name: 'phase',
    type: 'VARCHAR',
    audiences: RESEARCH,
    description:
      'pre-baseline (before the baseline period), baseline (inside it, nullpunktmåling), pre-intervention (after it, before the recorded start of the intervention), intervention (from that start, or from the end of the baseline when none is recorded); empty when the trial has neither a baseline nor an intervention start.',
  },
  { name: 'room_id', type: 'VARCHAR', audiences: RESEARCH, description: 'The room the device was assigned to (or placed in) when it measured.' },
  { name: 'device_id', type: 'VARCHAR', audiences: BOTH, description: 'The device (usually its serial number).' },
  {
    name: 'profile_id',
    type: 'VARCHAR',
    audiences: BOTH,
    description: "The device profile that decoded the message; see the codebook's profiles for version, vendor and model.",
  },
  {
    name: 'profile_version',
    type: 'VARCHAR',
    audiences: BOTH,
    description:
      'The version of the device profile that decoded the message (GET /v1/profiles/{id}/versions); empty for data stored before versions were recorded.',
  },
  { name: 'family', type: 'VARCHAR', audiences: BOTH, description: 'Device family: fall-sensor, medication-dispenser or fluid-balance.' },
  { name: 'kind', type: 'VARCHAR', audiences: BOTH, description: 'reading (a measured value) or event (something that happened).' },
  {
    name: 'name',
    type: 'VARCHAR',
    audiences: BOTH,
    description: "The measurement (readings) or event type (events); see the codebook's measurements and events.",
  },
  { name: 'device_time', type: 'TIMESTAMPTZ', audiences: BOTH, description: 'When the device measured, by its clock, ISO 8601 UTC with milliseconds.' },
  { name: 'received_at', type: 'TIMESTAMPTZ', audiences: BOTH, description: 'When the hub received the message, by the hub clock, ISO 8601 UTC.' },
  {
    name: 'clock_skewed',
    type: 'BOOLEAN',
    audiences: BOTH,
    description: "true when the device clock differed from the hub's beyond the allowed skew; device_time is then less trustworthy.",
  },
  { name: 'value', type: 'DOUBLE', audiences: BOTH, description: 'Readings: the value in `unit`. Empty for events.' },
  { name: 'unit', type: 'VARCHAR', audiences: BOTH, description: 'Readings: UCUM unit code (e.g. kg, mL). Empty for events.' },
  { name: 'alert_code', type: 'VARCHAR', audiences: BOTH, description: 'Events: VKP alert code (e.g. 4.1 Fall), empty when none applies.' },
  { name: 'dispense_code', type: 'VARCHAR', audiences: BOTH, description: 'Events: VKP medication-dispense event code, empty when none applies.' },
  {
    name: 'severity',
    type: 'INTEGER',
    audiences: BOTH,
    description: 'Events: VKP severity 0 not reported, 10 normal, 20 moderate, 30 serious, 40 critical. Empty for readings.',
  },
  {
    name: 'attributes',
    type: 'VARCHAR',
    audiences: BOTH,
    description:
      'Events: extra fields from the device as a JSON object text, e.g. {"zone":"bed"}. Empty for readings. The hub\'s alarm events (device hub-alarms) name their alarm in alarmId by a reference of this trial and audience (like the pseudonym), never by the id the ward sees.',
  },
];

export const columnsFor = (audience: DatasetAudience): readonly Column[] => COLUMNS.filter((c) => c.audiences.includes(audience));

export interface RowContext {
  readonly audience: DatasetAudience;
  readonly trial: Pick<Trial, 'baseline' | 'interventionFrom'>;
  /** The hub's participant id → what this audience sees. */
  readonly pseudonym: (participantId: string) => string;
  /** The hub's alarm id (attributes.alarmId of its alarm events) → what this audience sees. */
  readonly alarmRef: (alarmId: string) => string;
}

/**
 * The trial's phases as the report cuts them (reports/slices.ts periodsOf): the baseline,
 * and the intervention from its recorded start, else from the end of the baseline; what
 * lies between (or before the start, in a trial without a baseline) is pre-intervention.
 */
export function phaseOf(trial: Pick<Trial, 'baseline' | 'interventionFrom'>, at: number): string | null {
  const b = trial.baseline;
  const start = trial.interventionFrom ?? b?.to ?? null;
  if (b && at < b.from) return 'pre-baseline';
  if (b && at < b.to) return 'baseline';
  if (start === null) return null;
  return at < start ? 'pre-intervention' : 'intervention';
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * An alarm event's alarm id is the hub's, which clinicians and admins see beside the
 * participant: a join key across audiences. The dataset carries the audience's own
 * reference in its place (same key order, so the DuckDB export can match it byte for byte).
 */
function attributesFor(e: HubEvent, ctx: RowContext): HubEvent['attributes'] {
  const alarmId = e.attributes.alarmId;
  if (e.deviceId !== ALARM_SOURCE_ID || typeof alarmId !== 'string') return e.attributes;
  return { ...e.attributes, alarmId: ctx.alarmRef(alarmId) };
}

/** The cells of one point, in the order of columnsFor(ctx.audience). */
export function cellsOf(columns: readonly Column[], p: Point, ctx: RowContext): Cell[] {
  const reading = p.kind === 'reading' ? p : null;
  const event = p.kind === 'event' ? p : null;
  const value = (name: string): Cell => {
    switch (name) {
      case 'pseudonym':
        return p.participantId === null ? null : ctx.pseudonym(p.participantId);
      case 'phase':
        return phaseOf(ctx.trial, p.deviceTime);
      case 'room_id':
        return p.roomId;
      case 'device_id':
        return p.deviceId;
      case 'profile_id':
        return p.profileId;
      case 'profile_version':
        return p.profileVersion ?? null;
      case 'family':
        return p.family;
      case 'kind':
        return p.kind;
      case 'name':
        return p.name;
      case 'device_time':
        return iso(p.deviceTime);
      case 'received_at':
        return iso(p.receivedAt);
      case 'clock_skewed':
        return p.clockSkewed;
      case 'value':
        return reading?.value ?? null;
      case 'unit':
        return reading?.unit ?? null;
      case 'alert_code':
        return event?.alertCode ?? null;
      case 'dispense_code':
        return event?.dispenseCode ?? null;
      case 'severity':
        return event?.severity ?? null;
      case 'attributes':
        return event ? JSON.stringify(attributesFor(event, ctx)) : null;
      default:
        // A column added to COLUMNS without a value here is a bug: fail rather than export blanks.
        throw new Error(`dataset column ${name} has no value mapping`);
    }
  };
  return columns.map((c) => value(c.name));
}
