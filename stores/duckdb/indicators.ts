import type { DuckDBConnection } from '@duckdb/node-api';
import type { DurationSummary, HistogramBin, IndicatorCounts, IndicatorQuery } from '../../kernel/indicators.js';
import { withArchives } from './archive.js';
import { appendTempRows } from './rows.js';

/**
 * Trial indicators counted by DuckDB over the telemetry tables (points, rejections),
 * read-only, on a read connection the store lends (telemetry-store.ts). The slices the
 * caller cut (released, assigned time per cell) go in as temp tables through appenders;
 * every count is a join of the points against them, so a point outside its
 * participant's released time is never counted. The points are the table's and those of
 * the trial's archives (Parquet, archive.ts), read as one view: an archived trial reports
 * as it did before. Everything runs in one transaction, so
 * all counts come from one snapshot; it is rolled back at the end (it changed nothing
 * but its temp tables).
 */

const TEMP_TABLES = [
  'CREATE OR REPLACE TEMP TABLE ind_people (participant_id VARCHAR, period VARCHAR, bucket BIGINT, from_ms BIGINT, to_ms BIGINT)',
  `CREATE OR REPLACE TEMP TABLE ind_devices (device_id VARCHAR, participant_id VARCHAR, period VARCHAR, bucket BIGINT,
     from_ms BIGINT, to_ms BIGINT, interval_ms BIGINT)`,
  `CREATE OR REPLACE TEMP TABLE ind_days (participant_id VARCHAR, period VARCHAR, bucket BIGINT, day_ms BIGINT,
     measurement VARCHAR, late_code VARCHAR)`,
  `CREATE OR REPLACE TEMP TABLE ind_fluid_days (key VARCHAR, participant_id VARCHAR, period VARCHAR, bucket BIGINT, day_ms BIGINT,
     intake VARCHAR, output VARCHAR, min_net DOUBLE, max_net DOUBLE)`,
];

const DAY_MS = 86_400_000;
const SECONDS = "CAST(json_extract(p.attributes, '$.secondsSinceRaised') AS DOUBLE)";

/** Events by participant, cell, name and code. $1 trial, $2 the alarm source. */
const EVENTS = `
  SELECT s.period, s.bucket, s.participant_id, p.device_id = $2 AS hub,
    CASE WHEN p.device_id = $2 THEN nullif(json_extract_string(p.attributes, '$.sourceDeviceId'), '') ELSE p.device_id END AS source,
    p.name, p.alert_code, count(*) AS n
  FROM ind_points p JOIN ind_people s
    ON p.participant_id = s.participant_id AND p.device_time >= s.from_ms AND p.device_time < s.to_ms
  WHERE p.trial_id = $1 AND p.kind = 'event'
  GROUP BY ALL`;

/**
 * A dose taken later than window_min after the dose made available before it on the
 * same device (the latest dose_ready at or before it: an ASOF join).
 */
const LATE_DOSES = `
  WITH ev AS (
    SELECT p.device_id, p.participant_id, p.name, p.device_time,
      CAST(json_extract(p.attributes, '$.window_min') AS DOUBLE) AS window_min
    FROM ind_points p WHERE p.trial_id = $1 AND p.kind = 'event' AND p.name IN ('dose_ready', 'dose_taken')
  ), taken AS (SELECT * FROM ev WHERE name = 'dose_taken'), ready AS (SELECT * FROM ev WHERE name = 'dose_ready')
  SELECT s.period, s.bucket, s.participant_id, count(*) AS n
  FROM taken t ASOF JOIN ready r ON t.device_id = r.device_id AND t.device_time >= r.device_time
  JOIN ind_people s ON t.participant_id = s.participant_id AND t.device_time >= s.from_ms AND t.device_time < s.to_ms
  WHERE r.window_min IS NOT NULL AND t.device_time - r.device_time > r.window_min * 60000
  GROUP BY ALL`;

/**
 * p50/p90 per cell and per period (GROUPING SETS). The event names and the histogram's
 * bounds come from the indicator definitions (reports/indicators.yaml), never request
 * input, and are spliced as literals.
 */
const durations = (names: string) => `
  SELECT s.period, s.bucket, count(*) AS n, count(DISTINCT s.participant_id) AS people,
    quantile_cont(${SECONDS}, 0.5) AS p50, quantile_cont(${SECONDS}, 0.9) AS p90
  FROM ind_points p JOIN ind_people s
    ON p.participant_id = s.participant_id AND p.device_time >= s.from_ms AND p.device_time < s.to_ms
  WHERE p.trial_id = $1 AND p.device_id = $2 AND p.name IN (${names}) AND ${SECONDS} IS NOT NULL
  GROUP BY GROUPING SETS ((s.period, s.bucket), (s.period))`;

/** The bin is how many of the upper bounds the value reaches. */
const histogram = (names: string, bounds: string) => `
  SELECT s.period, len(list_filter(${bounds}, b -> b <= ${SECONDS})) AS bin, count(*) AS n
  FROM ind_points p JOIN ind_people s
    ON p.participant_id = s.participant_id AND p.device_time >= s.from_ms AND p.device_time < s.to_ms
  WHERE p.trial_id = $1 AND p.device_id = $2 AND p.name IN (${names}) AND ${SECONDS} IS NOT NULL
  GROUP BY ALL`;

const DAYS = `
  SELECT d.period, d.bucket, d.participant_id, d.measurement, count(*) AS days,
    count(*) FILTER (
      EXISTS (SELECT 1 FROM ind_points p WHERE p.participant_id = d.participant_id AND p.kind = 'reading'
        AND p.name = d.measurement AND p.device_time >= d.day_ms AND p.device_time < d.day_ms + ${DAY_MS})
      AND NOT EXISTS (SELECT 1 FROM ind_points p WHERE p.participant_id = d.participant_id AND p.device_id = $1
        AND p.name = 'alarm_raised' AND p.alert_code = d.late_code AND p.device_time >= d.day_ms AND p.device_time < d.day_ms + ${DAY_MS})
    ) AS on_time
  FROM ind_days d
  GROUP BY ALL`;

/**
 * The day's intake and output summed apart; a day counts with at least one reading of
 * each, and is within when intake − output lies inside its target (bounds included).
 */
const FLUID_DAYS = `
  WITH net AS (
    SELECT d.key, d.period, d.bucket, d.participant_id, d.day_ms, d.min_net, d.max_net,
      sum(p.value) FILTER (p.name = d.intake) AS intake_ml, sum(p.value) FILTER (p.name = d.output) AS output_ml
    FROM ind_fluid_days d JOIN ind_points p
      ON p.participant_id = d.participant_id AND p.kind = 'reading' AND (p.name = d.intake OR p.name = d.output)
      AND p.device_time >= d.day_ms AND p.device_time < d.day_ms + ${DAY_MS}
    GROUP BY ALL
  )
  SELECT key, period, bucket, participant_id, count(*) AS days,
    count(*) FILTER ((min_net IS NULL OR intake_ml - output_ml >= min_net) AND (max_net IS NULL OR intake_ml - output_ml <= max_net)) AS within
  FROM net WHERE intake_ml IS NOT NULL AND output_ml IS NOT NULL
  GROUP BY ALL`;

/** Records are messages with at least one point; an interval is covered by any record inside it. */
const DEVICES = `
  SELECT s.period, s.bucket, s.device_id, s.participant_id,
    count(DISTINCT p.message_id) AS records,
    count(DISTINCT (p.device_time - s.from_ms) // s.interval_ms) AS covered
  FROM ind_devices s LEFT JOIN ind_points p
    ON p.device_id = s.device_id AND p.device_time >= s.from_ms AND p.device_time < s.to_ms
  GROUP BY ALL`;

/** Rejections carry no device time; they count by receipt time. */
const REJECTIONS = `
  SELECT s.period, s.bucket, s.device_id, s.participant_id, r.code, count(*) AS n
  FROM rejections r JOIN ind_devices s
    ON r.device_id = s.device_id AND r.received_at >= s.from_ms AND r.received_at < s.to_ms
  GROUP BY ALL`;

export async function countIndicators(c: DuckDBConnection, q: IndicatorQuery, archives: readonly string[] = []): Promise<IndicatorCounts> {
  await c.run('BEGIN TRANSACTION');
  try {
    for (const ddl of TEMP_TABLES) await c.run(ddl);
    await c.run(`CREATE OR REPLACE TEMP VIEW ind_points AS SELECT * FROM ${withArchives(archives)}`);
    await appendTempRows(c, 'ind_people', q.participants, (a, s) => {
      a.appendVarchar(s.participantId);
      a.appendVarchar(s.period);
      a.appendBigInt(BigInt(s.bucket));
      a.appendBigInt(BigInt(s.from));
      a.appendBigInt(BigInt(s.to));
    });
    await appendTempRows(c, 'ind_devices', q.devices, (a, s) => {
      a.appendVarchar(s.deviceId);
      a.appendVarchar(s.participantId);
      a.appendVarchar(s.period);
      a.appendBigInt(BigInt(s.bucket));
      a.appendBigInt(BigInt(s.from));
      a.appendBigInt(BigInt(s.to));
      a.appendBigInt(BigInt(Math.max(1, Math.round(s.intervalMs))));
    });
    await appendTempRows(c, 'ind_days', q.days, (a, s) => {
      a.appendVarchar(s.participantId);
      a.appendVarchar(s.period);
      a.appendBigInt(BigInt(s.bucket));
      a.appendBigInt(BigInt(s.day));
      a.appendVarchar(s.measurement);
      a.appendVarchar(s.lateAlertCode);
    });
    await appendTempRows(c, 'ind_fluid_days', q.fluidDays, (a, s) => {
      a.appendVarchar(s.key);
      a.appendVarchar(s.participantId);
      a.appendVarchar(s.period);
      a.appendBigInt(BigInt(s.bucket));
      a.appendBigInt(BigInt(s.day));
      a.appendVarchar(s.intake);
      a.appendVarchar(s.output);
      if (s.minNetMl === null) a.appendNull();
      else a.appendDouble(s.minNetMl);
      if (s.maxNetMl === null) a.appendNull();
      else a.appendDouble(s.maxNetMl);
    });
    const rows = async (sql: string, params: unknown[] = [q.trialId, q.alarmSourceId]): Promise<Record<string, unknown>[]> =>
      (await c.runAndReadAll(sql, params as never)).getRowObjectsJS() as Record<string, unknown>[];
    const literals = (names: readonly string[]): string => (names.length ? names.map((n) => `'${n.replaceAll("'", "''")}'`).join(', ') : 'NULL');
    const bounds = `[${q.histogramBounds.map((b) => Number(b).toString()).join(', ')}]::DOUBLE[]`;
    // One after another: a connection runs one query at a time.
    const durationRows: DurationSummary[] = [];
    const histogramRows: HistogramBin[] = [];
    for (const d of q.durations) {
      for (const r of await rows(durations(literals(d.events)))) {
        durationRows.push({
          period: String(r.period),
          bucket: r.bucket === null ? null : Number(r.bucket),
          key: d.key,
          n: Number(r.n),
          participants: Number(r.people),
          p50: Number(r.p50),
          p90: Number(r.p90),
        });
      }
      for (const r of await rows(histogram(literals(d.events), bounds)))
        histogramRows.push({ period: String(r.period), key: d.key, bin: Number(r.bin), count: Number(r.n) });
    }
    const cell = (r: Record<string, unknown>) => ({ period: String(r.period), bucket: Number(r.bucket) });
    return {
      events: (await rows(EVENTS)).map((r) => ({
        ...cell(r),
        participantId: String(r.participant_id),
        hub: Boolean(r.hub),
        deviceId: r.source === null ? null : String(r.source),
        name: String(r.name),
        alertCode: r.alert_code === null ? null : String(r.alert_code),
        count: Number(r.n),
      })),
      lateDoses: (await rows(LATE_DOSES, [q.trialId])).map((r) => ({ ...cell(r), participantId: String(r.participant_id), count: Number(r.n) })),
      durations: durationRows,
      histogram: histogramRows,
      days: (await rows(DAYS, [q.alarmSourceId])).map((r) => ({
        ...cell(r),
        participantId: String(r.participant_id),
        measurement: String(r.measurement),
        days: Number(r.days),
        onTime: Number(r.on_time),
      })),
      fluidDays: (await rows(FLUID_DAYS, [])).map((r) => ({
        ...cell(r),
        key: String(r.key),
        participantId: String(r.participant_id),
        days: Number(r.days),
        within: Number(r.within),
      })),
      devices: (await rows(DEVICES, [])).map((r) => ({
        ...cell(r),
        deviceId: String(r.device_id),
        participantId: String(r.participant_id),
        records: Number(r.records),
        intervalsCovered: Number(r.covered),
      })),
      rejections: (await rows(REJECTIONS, [])).map((r) => ({
        ...cell(r),
        deviceId: String(r.device_id),
        participantId: String(r.participant_id),
        code: String(r.code),
        count: Number(r.n),
      })),
    };
  } finally {
    await c.run('ROLLBACK').catch(() => undefined);
  }
}
