import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Alarm, AlarmService, AlarmState } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { AlarmActionBody, AlarmDto, AlarmListQuery, toAlarmDto } from './alarms-schemas.js';
import { actorOf, consentOf, mayShow, siteScope, watches } from './live-access.js';

const carers = { access: ['admin', 'clinician'], release: true } as const;
// A paired ward tablet reads and acts on its own site's alarms one at a time, never lists them.
const boardCarers = { access: ['admin', 'clinician', 'board'], release: true } as const;
const actors = { access: ['admin', 'clinician', 'board'] } as const;
const tags = ['alarms'];
const STATES: Record<'open' | 'closed' | 'all', readonly AlarmState[] | undefined> = {
  open: ['raised', 'acknowledged'],
  closed: ['resolved', 'false_alarm'],
  all: undefined,
};
const WITHHELD =
  'An alarm about a participant without care.live consent is still shown, with `withheld: true` and without whom it is about, its measured detail and comments.';

/** Alarms and their lifecycle: raised → acknowledged → resolved or false alarm. */
export const alarmRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; alarms: AlarmService }> = async (app, { deps, alarms }) => {
  const consent = consentOf(deps.registry);
  const now = deps.now ?? Date.now;

  const dto = async (a: Alarm, principal: Principal) => toAlarmDto(a, !(await mayShow(consent, principal, a.participantId, a.raisedAt, now())));

  /** Someone else's alarm answers like a missing one. */
  async function visible(id: string, principal: Principal): Promise<Alarm> {
    const alarm = await alarms.getAlarm(id);
    if (!alarm || !watches(principal, alarm.siteId)) throw new HubError('NOT_FOUND', `no alarm "${id}"`);
    return alarm;
  }

  app.get('/v1/alarms', {
    config: carers,
    schema: {
      tags,
      summary: 'Alarms of the sites the token watches, newest first',
      description: WITHHELD,
      querystring: AlarmListQuery,
      response: { 200: listOf(AlarmDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const { siteId, state, limit } = request.query;
      const found = await alarms.listAlarms({ siteIds: siteScope(principal, siteId), states: STATES[state], limit });
      return { items: await Promise.all(found.map((a) => dto(a, principal))) };
    },
  });

  app.get('/v1/alarms/:id', {
    config: boardCarers,
    schema: { tags, summary: 'One alarm', description: WITHHELD, params: IdParams, response: { 200: AlarmDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      const principal = principalOf(request);
      return dto(await visible(request.params.id, principal), principal);
    },
  });

  const actions = [
    ['ack', 'Acknowledge: someone is on it', (id: string, by: Parameters<AlarmService['acknowledge']>[1], c: string | null) => alarms.acknowledge(id, by, c)],
    ['resolve', 'Resolve: the situation is handled', (id: string, by: Parameters<AlarmService['resolve']>[1], c: string | null) => alarms.resolve(id, by, c)],
    [
      'false-alarm',
      'Mark as a false alarm',
      (id: string, by: Parameters<AlarmService['markFalseAlarm']>[1], c: string | null) => alarms.markFalseAlarm(id, by, c),
    ],
  ] as const;
  for (const [path, summary, act] of actions) {
    app.post(`/v1/alarms/:id/${path}`, {
      config: actors,
      schema: {
        tags,
        summary,
        description: 'Stored with who and when before the answer; every open ward board shows it at once. An alarm already past this step answers 409.',
        params: IdParams,
        body: AlarmActionBody,
        response: { 200: AlarmDto, ...problems(400, 401, 403, 404, 409, 503) },
      },
      handler: async (request) => {
        const principal = principalOf(request);
        await visible(request.params.id, principal);
        const changed = await act(request.params.id, await actorOf(deps.registry, request, request.body?.person), request.body?.comment || null);
        return dto(changed, principal);
      },
    });
  }
};
