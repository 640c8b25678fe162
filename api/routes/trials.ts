import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { NewTrialBody, PatchTrialBody, TrialDto, toTrialDto } from '../schemas/trials.js';
import { visibleTrial } from '../trial-access.js';

const admin = { access: ['admin'] } as const;
const readers = { access: ['admin', 'researcher', 'vendor'] } as const;
const tags = ['trials'];
const scoped = 'A researcher sees the trials its token is bound to, a vendor those it takes part in; any other trial answers 404, like a missing one.';

/** Trials: a time-boxed study at a site, with vendors, a protocol reference and a baseline. */
export const trialRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;

  app.post('/v1/trials', {
    config: admin,
    schema: { tags, summary: 'Create a trial (status planned)', body: NewTrialBody, response: { 201: TrialDto, ...problems(400, 401, 403, 409) } },
    handler: async (request, reply) => reply.status(201).send(toTrialDto(await registry.createTrial(request.body))),
  });

  app.get('/v1/trials', {
    config: readers,
    schema: { tags, summary: 'List trials', description: scoped, response: { 200: listOf(TrialDto), ...problems(401, 403) } },
    handler: async (request) => {
      const p = principalOf(request);
      const trials = p.role === 'vendor' ? await registry.listTrials({ vendorId: p.vendorId }) : await registry.listTrials();
      const visible = p.role === 'researcher' ? trials.filter((t) => p.trialIds.includes(t.id)) : trials;
      return { items: visible.map((t) => toTrialDto(t)) };
    },
  });

  app.get('/v1/trials/:id', {
    config: readers,
    schema: { tags, summary: 'Get a trial', description: scoped, params: IdParams, response: { 200: TrialDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => toTrialDto(await visibleTrial(registry, principalOf(request), request.params.id)),
  });

  app.patch('/v1/trials/:id', {
    config: admin,
    schema: {
      tags,
      summary: "Move a trial's status one step forward",
      description:
        'planned → running → completed → archived. Participants, assignments and new consents are accepted while planned or running; a withdrawal always.',
      params: IdParams,
      body: PatchTrialBody,
      response: { 200: TrialDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request) => toTrialDto(await registry.setTrialStatus(request.params.id, request.body.status)),
  });
};
