import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HubError } from '../../kernel/errors.js';
import { dueActions, RETENTION_ACTIONS, type TrialRetentionService, type TrialRetentionView } from '../../kernel/trial-retention.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, IsoTime, QueryInstant, iso } from '../schemas/common.js';
import { example } from '../schemas/examples.js';

const admin = { access: ['admin'] } as const;
const tags = ['trials'];

const Days = z.number().int().min(0).max(36_500).nullable();
const RetentionBody = z
  .object({
    archiveAfterDays: Days.optional().describe(
      'Days after the trial closed that its data moves to a Parquet archive the dataset export still reads; null: never; absent: the hub default',
    ),
    deleteAfterDays: Days.optional().describe(
      'Days after the trial closed that its data is deleted, as thoroughly as an erasure; null: never; absent: the hub default',
    ),
  })
  .strict()
  .meta(example({ archiveAfterDays: 30, deleteAfterDays: 1825 }));

const Policy = z.object({ archiveAfterDays: Days, deleteAfterDays: Days });
const RetentionDto = z.object({
  trialId: z.string(),
  setting: RetentionBody.describe("The trial's own setting; what it leaves out is the hub default"),
  policy: Policy.describe('What applies: the setting over the defaults'),
  closedAt: IsoTime.nullable().describe('When the trial closed (its period ended, or it was completed early); null: open'),
  archivedAt: IsoTime.nullable(),
  archivedPoints: z.number().int().nullable(),
  deletedAt: IsoTime.nullable(),
  deletedPoints: z.number().int().nullable(),
  next: z
    .object({ action: z.enum(RETENTION_ACTIONS), dueAt: IsoTime })
    .nullable()
    .describe('The next action and when it falls due; null: none'),
});
const toDto = (v: TrialRetentionView): z.infer<typeof RetentionDto> => ({
  trialId: v.trialId,
  setting: { ...v.setting },
  policy: { ...v.policy },
  closedAt: v.closedAt === null ? null : iso(v.closedAt),
  archivedAt: v.archivedAt === null ? null : iso(v.archivedAt),
  archivedPoints: v.archivedPoints,
  deletedAt: v.deletedAt === null ? null : iso(v.deletedAt),
  deletedPoints: v.deletedPoints,
  next: v.next && { action: v.next.action, dueAt: iso(v.next.dueAt) },
});

/**
 * Retention of closed trials (hub/retention-schedule.ts): an admin sets it per trial and
 * sees, for every trial, what was done and what falls due when; the schedule applies it.
 */
export const retentionRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const retention = deps.retention;
  if (!retention) return;
  const viewOf = async (service: TrialRetentionService, trialId: string): Promise<TrialRetentionView> => {
    const v = (await service.views(Date.now())).find((x) => x.trialId === trialId);
    if (!v) throw new HubError('NOT_FOUND', `no trial "${trialId}"`);
    return v;
  };

  app.get('/v1/trials/:id/retention', {
    config: admin,
    schema: {
      tags,
      summary: "A trial's retention: its policy, what was done and when, what is next",
      params: IdParams,
      response: { 200: RetentionDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => toDto(await viewOf(retention, request.params.id)),
  });

  app.put('/v1/trials/:id/retention', {
    config: admin,
    schema: {
      tags,
      summary: "Set a trial's retention",
      description:
        "Replaces the trial's own setting. Applied by the hub's schedule (ARENA_TRIAL_RETENTION_CHECK_S) once the trial has closed; each action is audited.",
      params: IdParams,
      body: RetentionBody,
      response: { 200: RetentionDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => toDto(await retention.setSetting(request.params.id, request.body)),
  });

  app.get('/v1/retention', {
    config: admin,
    schema: {
      tags,
      summary: "Dry run: every trial's retention, and the actions due at a time (now by default), without applying any",
      querystring: z.object({ at: QueryInstant.optional().describe('The time to list due actions at; now by default') }),
      response: { 200: z.object({ at: IsoTime, defaults: Policy, due: z.array(RetentionDto), items: z.array(RetentionDto) }), ...problems(400, 401, 403) },
    },
    handler: async (request) => {
      const at = request.query.at ?? Date.now();
      const views = await retention.views(at);
      const due = dueActions(views, at);
      return { at: iso(at), defaults: { ...retention.defaults }, due: due.map(toDto), items: views.map(toDto) };
    },
  });
};
