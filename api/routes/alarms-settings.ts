import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlarmSettingsInput, defaultAlarmSettings, type AlarmService } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IsoTime, iso, listOf } from '../schemas/common.js';
import { ActorDto, SettingsDto, toSettingsDto } from './alarms-schemas.js';
import { actorOf, caredParticipant, siteScope } from './live-access.js';

const carers = { access: ['admin', 'clinician'] } as const;
// Reads of a participant's care settings are audited (api/audit-trail.ts), without the settings.
const readers = { ...carers, auditRead: true } as const;
const tags = ['alarms'];
const scoped = 'A clinician reaches only participants of the sites its token is bound to; any other participant, or an unknown one, answers 404.';
const Params = z.object({ participantId: Id.describe("The participant's pseudonym") });
const TargetChangeDto = AlarmSettingsInput.pick({ fluid: true, weight: true }).extend({
  validFrom: IsoTime.describe('When it was set; it holds until the next change'),
  setBy: ActorDto,
});

/**
 * Per-participant alarm settings, where care differs: bed-exit windows, long-stay
 * limits, dose window and whom to alert, fluid and weight thresholds, daily
 * measurements, pause. A clinician reads and sets them for participants of its sites.
 */
export const alarmSettingsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; alarms: AlarmService }> = async (app, { deps, alarms }) => {
  app.get('/v1/alarm-settings', {
    config: readers,
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
    config: readers,
    schema: {
      tags,
      summary: "A participant's alarm settings",
      description: `A participant without settings of its own gets the defaults, with updatedAt and updatedBy null. ${scoped}`,
      params: Params,
      response: { 200: SettingsDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const { participant, siteId } = await caredParticipant(deps.registry, principalOf(request), request.params.participantId);
      const s = await alarms.getSettings(participant.id);
      return s ? toSettingsDto(s) : { ...defaultAlarmSettings(siteId), participantId: participant.id, updatedAt: null, updatedBy: null };
    },
  });

  app.get('/v1/alarm-settings/:participantId/targets', {
    config: readers,
    schema: {
      tags,
      summary: "History of a participant's fluid-balance target",
      description: `Every change of the fluid and weight limits, oldest first, with when and by whom; trial reports judge each day by the target that held then. ${scoped}`,
      params: Params,
      response: { 200: listOf(TargetChangeDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const { participant } = await caredParticipant(deps.registry, principalOf(request), request.params.participantId);
      const history = await alarms.fluidTargetHistory([participant.id]);
      return { items: history.map(({ fluid, weight, validFrom, setBy }) => ({ fluid, weight, validFrom: iso(validFrom), setBy })) };
    },
  });

  app.put('/v1/alarm-settings/:participantId', {
    config: carers,
    schema: {
      tags,
      summary: "Set a participant's alarm settings (whole document)",
      description:
        "Omitted fields take their defaults. siteId must be the participant's site (its trial's). " +
        'A change of the fluid-balance target (fluid, weight) is also kept in its history, with this time and the token that made it, so trial reports judge each day by the target that held then. ' +
        scoped,
      params: Params,
      body: AlarmSettingsInput,
      response: { 200: SettingsDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      // The binding is checked against the participant's own site before anything else,
      // whether or not it has settings yet: a clinician of another site must not pause its alarms.
      const { participant, siteId } = await caredParticipant(deps.registry, principalOf(request), request.params.participantId);
      if (request.body.siteId !== siteId) throw new HubError('VALIDATION_FAILED', `body.siteId: participant "${participant.id}" belongs to site "${siteId}"`);
      return toSettingsDto(await alarms.putSettings(participant.id, request.body, await actorOf(deps.registry, request)));
    },
  });
};
