import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HubError } from '../../kernel/errors.js';
import { noteForAudit } from '../audit-trail.js';
import type { ApiDeps } from '../deps.js';
import { eraseEverywhere } from '../erasure.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { ErasureDto, NewParticipantBody, ParticipantDetailDto, ParticipantDto, toAssignmentDto, toConsentDto, toParticipantDto } from '../schemas/trials.js';

const admin = { access: ['admin'] } as const;
const tags = ['participants'];

/** Participants (pseudonyms only) and erasure of their data. */
export const participantRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry, store } = deps;
  const clock = deps.now ?? Date.now;

  const participant = async (id: string) => {
    const p = await registry.getParticipant(id);
    if (!p) throw new HubError('NOT_FOUND', `no participant "${id}"`);
    return p;
  };

  app.post('/v1/trials/:id/participants', {
    config: admin,
    schema: {
      tags,
      summary: 'Enrol a participant in a trial',
      description: 'The id is the pseudonym the clinic assigned; the hub never holds the key to a real identity.',
      params: IdParams,
      body: NewParticipantBody,
      response: { 201: ParticipantDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) =>
      reply.status(201).send(toParticipantDto(await registry.enrolParticipant({ id: request.body.id, trialId: request.params.id }))),
  });

  app.get('/v1/trials/:id/participants', {
    config: admin,
    schema: { tags, summary: "List a trial's participants", params: IdParams, response: { 200: listOf(ParticipantDto), ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      if (!(await registry.getTrial(request.params.id))) throw new HubError('NOT_FOUND', `no trial "${request.params.id}"`);
      return { items: (await registry.listParticipants(request.params.id)).map(toParticipantDto) };
    },
  });

  app.get('/v1/participants/:id', {
    config: { ...admin, auditRead: true },
    schema: {
      tags,
      summary: 'Get a participant with consents and assignments',
      params: IdParams,
      response: { 200: ParticipantDetailDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const p = await participant(request.params.id);
      const [consents, assignments] = await Promise.all([registry.listConsents(p.id), registry.listAssignments({ participantId: p.id })]);
      return { ...toParticipantDto(p), consents: consents.map(toConsentDto), assignments: assignments.map(toAssignmentDto) };
    },
  });

  app.delete('/v1/participants/:id/data', {
    config: admin,
    schema: {
      tags,
      summary: "Erase a participant's readings and events",
      description:
        "Ends the participant's assignments (nothing measured afterwards is attributed to them), then deletes every point attributed to them from the telemetry store and its journal, " +
        "the raw payloads of their devices' rejections, and their alarms (with comments) and alarm settings, and rewrites the hub's files so no trace of them stays. " +
        'Audited. Calling it again deletes whatever is left (normally nothing).',
      params: IdParams,
      response: { 200: ErasureDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const p = await participant(request.params.id);
      const { erasedPoints, erasedAlarms, erasedAt } = await eraseEverywhere(
        { registry, store, alarms: deps.alarms, grafana: deps.grafana, ...deps.erasure },
        p.id,
        clock(),
      );
      // Counts only: what stays of an erasure holds no values.
      noteForAudit(request, { erasedPoints, erasedAlarms });
      return { participantId: p.id, erasedAt: new Date(erasedAt).toISOString(), erasedPoints };
    },
  });
};
