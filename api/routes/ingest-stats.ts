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
  storedMessages: Count.describe('Messages committed to the store'),
  duplicates: Count.describe('Redeliveries skipped by exactly-once'),
  batches: Count,
  failedMessages: Count.describe('Messages in batches the store refused'),
  largestBatch: Count,
  rejectedByCode: z.partialRecord(z.enum(RejectionCodes), Count),
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
});

/** Ingest counters since the process started; registered only when the process runs ingest. */
export const ingestStatsRoutes: FastifyPluginAsyncZod<{ stats: () => IngestStatsSnapshot }> = async (app, { stats }) => {
  app.get('/v1/ingest/stats', {
    config: { access: ['admin'] },
    schema: { tags: ['health'], summary: 'Ingest counters since start', response: { 200: IngestStatsDto, ...problems(401, 403) } },
    handler: async () => stats(),
  });
};
