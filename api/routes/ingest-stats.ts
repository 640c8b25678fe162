import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RejectionCodes } from '../../kernel/telemetry.js';
import type { IngestStatsSnapshot } from '../deps.js';
import { problems } from '../problem.js';

const Count = z.number().int().nonnegative();
const IngestStatsDto = z.object({
  received: Count.describe('Messages decided since start'),
  accepted: Count,
  rejected: Count,
  acknowledged: Count.describe('Messages committed durably (to the store, or to the journal in front of it): their PUBACK may go out'),
  storedMessages: Count.describe(
    'Messages the store itself reported stored; behind the journal, these lag acknowledged while it loads, and stop while the store refuses writes',
  ),
  duplicates: Count.describe('Redeliveries skipped by exactly-once'),
  batches: Count,
  failedMessages: Count.describe('Messages whose commit failed: not acknowledged, the device keeps them'),
  largestBatch: Count,
  rejectedByCode: z.partialRecord(z.enum(RejectionCodes), Count),
  journal: z
    .object({
      storeFailing: z
        .boolean()
        .describe('The store refuses deliveries from the journal (out of memory, disk full, I/O errors): an outage; /readyz answers 503'),
      failingSince: z.string().nullable(),
      lastError: z.string().nullable(),
      waitingBytes: Count.describe('Acknowledged, in the journal, not yet in the store'),
      setAsideBatches: Count.describe(
        'Batches the store refused alone while taking others, in journal/dead-letter.ndjson; `npm run requeue` queues them again',
      ),
      setAsideMessages: Count,
    })
    .optional()
    .describe('All-in-one hub: the ingest journal in front of DuckDB'),
  quota: z
    .object({
      pacedMessages: Count.describe('Messages slowed down by a device or vendor quota'),
      disconnects: Count.describe('Connections closed for staying over quota'),
      devices: z.array(z.object({ deviceId: z.string(), paced: Count, disconnects: Count })),
      vendors: z.array(z.object({ vendorId: z.string(), paced: Count, disconnects: Count })),
    })
    .optional()
    .describe('Broker quotas (all-in-one hub): the devices and vendors most recently over'),
  disk: z
    .object({
      level: z.enum(['ok', 'low', 'full']),
      reason: z.string().optional(),
      stops: Count.describe('Times the hub stopped taking messages for want of disk space'),
      places: z.array(z.object({ role: z.string(), path: z.string(), freeBytes: Count, totalBytes: Count, level: z.enum(['ok', 'low', 'full']) })),
    })
    .optional()
    .describe('Free space where the hub writes (all-in-one hub)'),
  fhirPush: z
    .object({
      waiting: Count.describe('Bundles queued for the FHIR server, not yet taken'),
      waitingBytes: Count,
      sent: Count,
      refused: Count.describe('Items not queued because the queue was full (PUSH_QUEUE_FULL)'),
      withheld: Count.describe('Queued bundles not sent: their participant withdrew or was erased while they waited'),
      failingSince: z.string().nullable(),
      lastError: z.string().nullable(),
    })
    .optional()
    .describe('The FHIR push (FHIR_PUSH_URL, all-in-one hub)'),
});

/** Ingest counters since the process started; registered only when the process runs ingest. */
export const ingestStatsRoutes: FastifyPluginAsyncZod<{ stats: () => IngestStatsSnapshot }> = async (app, { stats }) => {
  app.get('/v1/ingest/stats', {
    config: { access: ['admin'] },
    schema: { tags: ['health'], summary: 'Ingest counters since start', response: { 200: IngestStatsDto, ...problems(401, 403) } },
    handler: async () => stats(),
  });
};
