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
});

/** Ingest counters since the process started; registered only when the process runs ingest. */
export const ingestStatsRoutes: FastifyPluginAsyncZod<{ stats: () => IngestStatsSnapshot }> = async (app, { stats }) => {
  app.get('/v1/ingest/stats', {
    config: { access: ['admin'] },
    schema: { tags: ['health'], summary: 'Ingest counters since start', response: { 200: IngestStatsDto, ...problems(401, 403) } },
    handler: async () => stats(),
  });
};
