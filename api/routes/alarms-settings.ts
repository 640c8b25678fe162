import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlarmSettingsInput, type AlarmService } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, listOf } from '../schemas/common.js';
import { SettingsDto, toSettingsDto } from './alarms-schemas.js';
import { actorOf, siteScope, watches } from './live-access.js';

const carers = { access: ['admin', 'clinician'] } as const;
const tags = ['alarms'];
const Params = z.object({ participantId: Id.describe('The participant\'s pseudonym') });

/**
 * Per-participant alarm settings, where care differs: bed-exit windows, long-stay
 * limits, dose window and whom to alert, fluid and weight thresholds, daily
 * measurements, pause. A clinician reads and sets them for participants of its sites.
 */
export const alarmSettingsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; alarms: AlarmService }> = async (app, { deps, alarms }) => {
  app.get('/v1/alarm-settings', {
    config: carers,
    schema: {
      tags,
      summary: 'Alarm settings of the participants of the sites the token watches',
      querystring: z.object({ siteId: Id.optional() }),
      response: { 200: listOf(SettingsDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const scope = siteScope(principalOf(request), request.query.siteId);
      return { items: (await alarms.listSettings(scope)).map(toSettingsDto) };
    },
  });

  app.get('/v1/alarm-settings/:participantId', {
    config: carers,
    schema: { tags, summary: "A participant's alarm settings", params: Params, response: { 200: SettingsDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      const s = await alarms.getSettings(request.params.participantId);
      if (!s || !watches(principalOf(request), s.siteId)) throw new HubError('NOT_FOUND', `no alarm settings for "${request.params.participantId}"`);
      return toSettingsDto(s);
    },
  });

  app.put('/v1/alarm-settings/:participantId', {
    config: carers,
    schema: {
      tags,
      summary: "Set a participant's alarm settings (whole document)",
      description: 'Omitted fields take their defaults. A clinician may set them only for a site its token is bound to, and cannot move a participant of another site.',
      params: Params,
      body: AlarmSettingsInput,
      response: { 200: SettingsDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const { participantId } = request.params;
      const existing = await alarms.getSettings(participantId);
      if (existing && !watches(principal, existing.siteId)) throw new HubError('NOT_FOUND', `no alarm settings for "${participantId}"`);
      if (!watches(principal, request.body.siteId) || !(await deps.registry.getSite(request.body.siteId))) {
        throw new HubError('VALIDATION_FAILED', `body.siteId: no site "${request.body.siteId}"`);
      }
      return toSettingsDto(await alarms.putSettings(participantId, request.body, await actorOf(deps.registry, request)));
    },
  });
};
