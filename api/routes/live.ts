import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LiveFeed, LiveMessage } from '../../kernel/alarms.js';
import type { Registry } from '../../kernel/registry.js';
import { bearerOf, principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { SECURITY_HEADERS } from '../security-headers.js';
import { iso } from '../schemas/common.js';
import { toEventDto, toReadingDto } from '../schemas/telemetry.js';
import { toAlarmDto } from './alarms-schemas.js';
import { SiteQuery, toHealthDto } from './live-schemas.js';
import { consentOf, mayShow, watchedSite } from './live-access.js';

/** A stream that falls this far behind is closed; the board reconnects and reloads. */
const MAX_BUFFERED_BYTES = 1 << 20;
const HEARTBEAT_MS = 15_000;
/**
 * How often an open stream asks whether its token is still valid: a revoked or expired
 * token ends the stream within this time (in the split layout, once the registry reload
 * has brought the revocation to the API).
 */
const TOKEN_CHECK_MS = 2_000;

const siteOf = (m: LiveMessage): string | null => (m.kind === 'point' ? m.point.siteId : m.kind === 'alarm' ? m.alarm.siteId : m.health.siteId);

/** Whom the message is about and when it was measured; null for device health. */
const subjectOf = (m: LiveMessage): [string | null, number] =>
  m.kind === 'point' ? [m.point.participantId, m.point.deviceTime] : m.kind === 'alarm' ? [m.alarm.participantId, m.alarm.raisedAt] : [null, 0];

/** One server-sent event (HTML Living Standard §9.2): named, one JSON line. */
function frame(m: LiveMessage, shown: boolean): string | null {
  if (m.kind === 'alarm') return `event: alarm\ndata: ${JSON.stringify(toAlarmDto(m.alarm, !shown))}\n\n`;
  if (m.kind === 'device') return `event: device\ndata: ${JSON.stringify(toHealthDto(m.health))}\n\n`;
  // Readings and events about a participant without care.live are not sent at all.
  if (!shown) return null;
  const p = m.point;
  const data = p.kind === 'reading' ? toReadingDto(p, 'full') : toEventDto(p, 'full');
  return `event: ${p.kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * GET /v1/live: server-sent events of one site's readings, events, alarm changes and
 * device health, as they are committed. Pushed from ingest's commit in the same turn,
 * never polled (promise 6). A clinician sees the sites its token is bound to, under
 * care.live (see live-access.ts); an admin any site.
 */
export const liveRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; feed: LiveFeed }> = async (app, { deps, feed }) => {
  const consent = consentOf(deps.registry);
  const now = deps.now ?? Date.now;
  const streams = new Set<ServerResponse>();
  // Open streams would otherwise keep the server from closing.
  app.addHook('onClose', async () => {
    for (const s of streams) s.end();
  });

  app.get('/v1/live', {
    config: { access: ['admin', 'clinician'] },
    schema: {
      tags: ['live'],
      summary: "A site's live stream (text/event-stream)",
      description:
        'Events `hello`, `reading`, `event`, `alarm` and `device`, each with one JSON object as data; a comment line every 15 s keeps proxies from closing it. ' +
        'Readings and events about a participant without care.live consent are not sent; their alarms are, with `withheld: true`. ' +
        'After a reconnect, load GET /v1/live/board again: the stream does not replay. ' +
        'When the token is revoked or expires, an `end` event is sent and the stream closes within a few seconds.',
      querystring: SiteQuery,
      response: problems(400, 401, 403, 404),
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const site = await watchedSite(deps.registry, principal, request.query.siteId);
      // A release of live data: audited when it starts (an open stream has no onSend).
      await (deps.registry as Partial<Pick<Registry, 'audit'>>).audit?.append({
        actor: { role: principal.role, tokenId: principal.tokenId },
        action: 'GET /v1/live',
        target: '/v1/live',
        detail: { siteId: site.id },
      });

      reply.hijack();
      const res = reply.raw;
      // Hijacked, so the onSend hook of security-headers.ts does not run: its headers are set here.
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      // Small frames must leave at once, not wait for Nagle's algorithm.
      res.socket?.setNoDelay(true);
      streams.add(res);
      const write = (text: string | null): void => {
        if (text === null || res.destroyed) return;
        res.write(text);
        if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      };
      write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ siteId: site.id, at: iso(now()) })}\n\n`);

      // Consent answers are asynchronous; a chain keeps the stream in commit order.
      let pending = 0;
      let tail: Promise<void> = Promise.resolve();
      const unsubscribe = feed.subscribe((m) => {
        if (siteOf(m) !== site.id) return;
        const [participantId, at] = subjectOf(m);
        if (pending === 0 && (participantId === null || principal.role === 'admin')) return write(frame(m, true));
        pending++;
        tail = tail
          .then(async () => write(frame(m, await mayShow(consent, principal, participantId, at, now()))))
          .catch((err: unknown) => request.log.error({ err }, 'live stream write failed'))
          .finally(() => pending--);
      });
      // The token was valid when the stream opened; a release goes on only while it stays so.
      const token = bearerOf(request);
      const endIfInvalid = async (): Promise<void> => {
        if (res.destroyed || (token !== undefined && (await deps.registry.verifyToken(token, now())) !== undefined)) return;
        write(`event: end\ndata: ${JSON.stringify({ reason: 'token revoked or expired' })}\n\n`);
        res.end();
      };
      const checkToken = (): void => {
        endIfInvalid().catch((err: unknown) => {
          request.log.error({ err }, 'live stream token check failed; stream closed');
          res.destroy();
        });
      };
      const tokenCheck = setInterval(checkToken, TOKEN_CHECK_MS);
      const heartbeat = setInterval(() => {
        write(': keep-alive\n\n');
        checkToken();
      }, HEARTBEAT_MS);
      tokenCheck.unref();
      heartbeat.unref();
      res.on('close', () => {
        unsubscribe();
        clearInterval(heartbeat);
        clearInterval(tokenCheck);
        streams.delete(res);
      });
    },
  });
};
