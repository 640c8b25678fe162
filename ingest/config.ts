import { z } from 'zod';

const int = (d: number) => z.coerce.number().int().positive().default(d);

const Schema = z.object({
  INGEST_MAX_BATCH: int(2000),
  INGEST_MAX_PENDING: int(20000),
  INGEST_CLOCK_SKEW_S: int(120),
  INGEST_MAX_PAST_S: int(30 * 86400),
  INGEST_MAX_FUTURE_S: int(3600),
  INGEST_MAX_REJECTED_PAYLOAD_BYTES: int(65536),
});

export interface IngestConfig {
  readonly batch: { readonly maxBatch: number; readonly maxPending: number };
  readonly limits: { readonly skewMs: number; readonly maxPastMs: number; readonly maxFutureMs: number };
  readonly maxRejectedPayloadBytes: number;
}

export function loadIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  const c = Schema.parse(env);
  return Object.freeze({
    batch: Object.freeze({ maxBatch: c.INGEST_MAX_BATCH, maxPending: Math.max(c.INGEST_MAX_PENDING, c.INGEST_MAX_BATCH) }),
    limits: Object.freeze({
      skewMs: c.INGEST_CLOCK_SKEW_S * 1000,
      maxPastMs: c.INGEST_MAX_PAST_S * 1000,
      maxFutureMs: c.INGEST_MAX_FUTURE_S * 1000,
    }),
    maxRejectedPayloadBytes: c.INGEST_MAX_REJECTED_PAYLOAD_BYTES,
  });
}
