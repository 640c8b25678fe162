import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AlarmService } from '../../kernel/alarms.js';
import type { Principal } from '../../kernel/principal.js';
import type { HubEvent, Point, Reading } from '../../kernel/telemetry.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IsoTime, iso, listOf } from '../schemas/common.js';
import { SiteDto, toSiteDto } from '../schemas/registry.js';
import { EventDto, ReadingDto, toEventDto, toReadingDto } from '../schemas/telemetry.js';
import { AlarmDto, toAlarmDto } from './alarms-schemas.js';
import { HealthDto, SiteQuery, toHealthDto } from './live-schemas.js';
import { consentOf, mayShow, watchedSite, watches } from './live-access.js';

/** The board shows what is current: readings older than this are not "latest" any more. */
const LATEST_WINDOW_MS = 7 * 86_400_000;

const BoardDto = z.object({
  site: SiteDto,
  rooms: z.array(z.object({ id: Id, name: z.string(), beds: z.number().int() })),
  devices: z.array(
    z.object({
      id: Id,
      label: z.string(),
      profileId: Id,
      family: z.string(),
      roomId: Id.nullable(),
      health: HealthDto,
      readings: z.array(ReadingDto).describe('The latest reading of each measurement, within 7 days'),
      lastEvent: EventDto.nullable(),
    }),
  ),
  alarms: z.array(AlarmDto).describe('Open alarms'),
  now: IsoTime,
});

/** What the ward board loads before it follows GET /v1/live. */
export const liveBoardRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; alarms: AlarmService }> = async (app, { deps, alarms }) => {
  const { registry, store } = deps;
  const consent = consentOf(registry);
  const now = deps.now ?? Date.now;

  app.get('/v1/live/sites', {
    config: { access: ['admin', 'clinician', 'board'] },
    schema: { tags: ['live'], summary: 'Sites the token may watch', response: { 200: listOf(SiteDto), ...problems(401, 403) } },
    handler: async (request) => {
      const principal = principalOf(request);
      return { items: (await registry.listSites()).filter((s) => watches(principal, s.id)).map(toSiteDto) };
    },
  });

  async function latest(deviceId: string, principal: Principal, at: number): Promise<{ readings: Reading[]; lastEvent: HubEvent | null }> {
    const shown = (p: Point) => mayShow(consent, principal, p.participantId, p.deviceTime, at);
    const readings = new Map<string, Reading>();
    for await (const p of store.points({ deviceIds: [deviceId], kind: 'reading', from: at - LATEST_WINDOW_MS, order: 'desc', limit: 200 })) {
      if (p.kind === 'reading' && !readings.has(p.name) && (await shown(p))) readings.set(p.name, p);
    }
    let lastEvent: HubEvent | null = null;
    for await (const p of store.points({ deviceIds: [deviceId], kind: 'event', from: at - LATEST_WINDOW_MS, order: 'desc', limit: 20 })) {
      if (p.kind === 'event' && lastEvent === null && (await shown(p))) lastEvent = p;
    }
    return { readings: [...readings.values()], lastEvent };
  }

  app.get('/v1/live/board', {
    config: { access: ['admin', 'clinician', 'board'], release: true },
    schema: {
      tags: ['live'],
      summary: "A site's rooms, devices with health and latest readings, and open alarms",
      description: 'Readings and events about a participant without care.live consent are left out; their alarms are shown with `withheld: true`.',
      querystring: SiteQuery,
      response: { 200: BoardDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const site = await watchedSite(registry, principal, request.query.siteId);
      const at = now();
      const [rooms, devices, open] = await Promise.all([
        registry.listRooms(site.id),
        registry.listDevices({ siteId: site.id }),
        alarms.listAlarms({ siteIds: [site.id], states: ['raised', 'acknowledged'], limit: 1000 }),
      ]);
      const health = new Map(alarms.deviceHealth(devices.map((d) => d.id)).map((h) => [h.deviceId, h]));
      return {
        site: toSiteDto(site),
        rooms: rooms.map((r) => ({ id: r.id, name: r.name, beds: r.beds })),
        devices: await Promise.all(
          devices.map(async (d) => {
            const { readings, lastEvent } = await latest(d.id, principal, at);
            const h = health.get(d.id);
            return {
              id: d.id,
              label: d.label,
              profileId: d.profileId,
              family: deps.profiles.get(d.profileId)?.profile.family ?? 'unknown',
              roomId: d.roomId,
              health: h
                ? { ...toHealthDto(h), roomId: d.roomId }
                : { deviceId: d.id, roomId: d.roomId, lastSeenAt: null, offlineSince: null, battery: null, mains: null },
              readings: readings.map((r) => toReadingDto(r, 'full')),
              lastEvent: lastEvent && toEventDto(lastEvent, 'full'),
            };
          }),
        ),
        alarms: await Promise.all(open.map(async (a) => toAlarmDto(a, !(await mayShow(consent, principal, a.participantId, a.raisedAt, at))))),
        now: iso(at),
      };
    },
  });
};
