import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HubError } from '../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { AssignmentDto, EndAssignmentBody, IdOnlyParams, NewAssignmentBody, toAssignmentDto } from '../schemas/trials.js';

const admin = { access: ['admin'] } as const;
const tags = ['assignments'];
const attribution =
  'Ingest attributes each message to the assignment valid when it is received. Points already stored keep their attribution: ' +
  'an assignment made or ended afterwards does not re-attribute them.';

/** Which device measured which participant in which room and bed, when. */
export const assignmentRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;
  const clock = deps.now ?? Date.now;

  app.post('/v1/trials/:id/assignments', {
    config: admin,
    schema: {
      tags,
      summary: 'Assign a device to a participant (and room/bed) for an interval',
      description:
        `${attribution} A device measures one participant at a time; a bed holds one participant at a time; ` +
        'a participant may use several devices at once but is in one room at a time. Clashes are 409.',
      params: IdParams,
      body: NewAssignmentBody,
      response: { 201: AssignmentDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => {
      const b = request.body;
      const created = await registry.createAssignment({ ...b, trialId: request.params.id, roomId: b.roomId ?? null, bed: b.bed ?? null, to: b.to ?? null });
      return reply.status(201).send(toAssignmentDto(created));
    },
  });

  app.get('/v1/trials/:id/assignments', {
    config: admin,
    schema: { tags, summary: "List a trial's assignments", params: IdParams, response: { 200: listOf(AssignmentDto), ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      if (!(await registry.getTrial(request.params.id))) throw new HubError('NOT_FOUND', `no trial "${request.params.id}"`);
      return { items: (await registry.listAssignments({ trialId: request.params.id })).map(toAssignmentDto) };
    },
  });

  app.post('/v1/assignments/:id/end', {
    config: admin,
    schema: {
      tags,
      summary: 'End an assignment',
      description: attribution,
      params: IdOnlyParams,
      body: EndAssignmentBody,
      response: { 200: AssignmentDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => toAssignmentDto(await registry.endAssignment(request.params.id, request.body.at ?? clock())),
  });
};
