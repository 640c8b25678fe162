import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HubError } from '../../kernel/errors.js';
import type { ConsentRecord } from '../../kernel/trials.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { ConsentDto, IdOnlyParams, NewConsentBody, WithdrawBody, toConsentDto } from '../schemas/trials.js';

const admin = { access: ['admin'] } as const;
const tags = ['consents'];

/** Consent records: one scope each, granted and withdrawn at known times. */
export const consentRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;
  const clock = deps.now ?? Date.now;

  /** Grafana's bucket follows care.live at once (stores/influx/grafana-mirror.ts): a grant dated back copies what it covers. */
  const refreshGrafana = async (record: ConsentRecord): Promise<void> => {
    if (record.scope !== 'care.live' || !deps.grafana) return;
    const participant = await registry.getParticipant(record.participantId);
    if (participant) await deps.grafana.refresh(participant.id, participant.trialId);
  };

  app.post('/v1/participants/:id/consents', {
    config: admin,
    schema: {
      tags,
      summary: 'Record a consent the participant granted',
      description: "Takes effect on the next request. Data measured from grantedAt (inside the trial period) becomes releasable to the scope's audience.",
      params: IdParams,
      body: NewConsentBody,
      response: { 201: ConsentDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => {
      const record = await registry.grantConsent({ ...request.body, participantId: request.params.id });
      // The grant is stored; a copy that failed only leaves Grafana showing less (and granting again would add a record).
      await refreshGrafana(record).catch((err: unknown) =>
        request.log.error({ err, event: 'grafana_refresh_failed' }, "Grafana's bucket not refreshed after a grant"),
      );
      return reply.status(201).send(toConsentDto(record));
    },
  });

  app.get('/v1/participants/:id/consents', {
    config: { ...admin, auditRead: true },
    schema: { tags, summary: "List a participant's consent records", params: IdParams, response: { 200: listOf(ConsentDto), ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      if (!(await registry.getParticipant(request.params.id))) throw new HubError('NOT_FOUND', `no participant "${request.params.id}"`);
      return { items: (await registry.listConsents(request.params.id)).map(toConsentDto) };
    },
  });

  app.post('/v1/consents/:id/withdraw', {
    config: admin,
    schema: {
      tags,
      summary: 'Record that the participant withdrew a consent',
      description:
        "Takes effect on the next request: no data of the participant is released to the scope's audience any more, including data measured before the withdrawal. " +
        'Cannot be undone; a new consent is a new record and covers only data measured after its own grant.',
      params: IdOnlyParams,
      body: WithdrawBody,
      response: { 200: ConsentDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const record = await registry.withdrawConsent(request.params.id, request.body.withdrawnAt ?? clock());
      // A failed delete answers 503; withdrawing again is harmless, and the mirror retries it itself too.
      await refreshGrafana(record);
      return toConsentDto(record);
    },
  });
};
