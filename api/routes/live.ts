import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiLimits } from '../config.js';
import type { LiveFeed, LiveMessage } from '../../kernel/alarms.js';
import type { Registry } from '../../kernel/registry.js';
import { bearerOf, principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { refuseFor } from '../rate-limits.js';
import { SECURITY_HEADERS } from '../security-headers.js';
import { iso } from '../schemas/common.js';
import { readiness } from '../readiness.js';
import { toEventDto, toReadingDto } from '../schemas/telemetry.js';
import { toAlarmDto } from './alarms-schemas.js';
import { SiteQuery, toHealthDto } from './live-schemas.js';
import { consentOf, mayShow, watchedSite } from './live-access.js';

/** A stream that falls this far behind is closed; the board reconnects and reloads. */
const MAX_BUFFERED_BYTES = 1 << 20;
/**
 * Every stream gets a `heartbeat` event this often, carrying the hub's readiness: the
 * board calls itself stale after two missed ones (promise 6), so a half-open connection
 * or a hub that cannot store shows within 15 s.
 */
export const HEARTBEAT_MS = 5_000;
/**
 * A write the peer has not taken within this time ends the stream: a peer that is gone
 * without a FIN (a pulled cable, a suspended laptop) would otherwise hold its buffers and
 * subscription for as long as the kernel keeps the socket.
 */
const DRAIN_TIMEOUT_MS = 30_000;
/** What a refused stream is told to wait: long enough for a closed tab's stream to have been freed. */
const RETRY_AFTER_S = 10;
/** Frames waiting for the audit append or a consent answer; beyond, the stream is closed as stalled. */
const MAX_PENDING_FRAMES = 10_000;
const SHUTDOWN_GRACE_MS = 1_000;
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
export const liveRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; feed: LiveFeed; limits: ApiLimits['live'] }> = async (app, { deps, feed, limits }) => {
  const consent = consentOf(deps.registry);
  const now = deps.now ?? Date.now;
  /** Each open stream and how to write to it (the heartbeat's way in). */
  const streams = new Map<ServerResponse, (beat: string) => void>();
  /** Streams held per token, counted from the moment a request is let in (before its audit), so the cap holds under a burst. */
  const held = new Map<string, number>();
  let slots = 0;
  let closing = false;

  const end = (res: ServerResponse, reason: string, graceMs = DRAIN_TIMEOUT_MS): void => {
    if (res.destroyed || res.writableEnded) return;
    res.write(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    // The socket goes with the stream: a keep-alive connection left open would hold server.close().
    res.end(() => res.socket?.destroy());
    setTimeout(() => res.destroy(), graceMs).unref();
  };
  // preClose, not onClose: fastify's server.close() runs before onClose hooks and waits
  // for every connection, so streams ended there would keep the hub from stopping.
  app.addHook('preClose', async () => {
    closing = true;
    // A peer that does not take its end event within a second is cut off: the hub stops in seconds.
    for (const s of streams.keys()) end(s, 'the hub is shutting down', SHUTDOWN_GRACE_MS);
  });

  // One readiness check per beat for all streams: the same answer GET /readyz gives, so a
  // hub that cannot store or has lost its feed is stale on every board even while the
  // socket lives. A check still running when the next beat is due makes that beat late,
  // which the board counts as missed: an answer it cannot get in time is no answer.
  let beating = false;
  const beat = async (): Promise<void> => {
    if (beating || streams.size === 0) return;
    beating = true;
    try {
      const r = await readiness(deps);
      const at = now();
      const text = `id: ${at}\nevent: heartbeat\ndata: ${JSON.stringify({ at: iso(at), ready: r.ready, ...(r.ready ? {} : { reason: r.reason }) })}\n\n`;
      for (const send of streams.values()) send(text);
    } finally {
      beating = false;
    }
  };
  const heartbeat = setInterval(() => void beat().catch((err: unknown) => app.log.error({ err }, 'live heartbeat failed')), HEARTBEAT_MS);
  heartbeat.unref();
  app.addHook('onClose', async () => clearInterval(heartbeat));

  app.get('/v1/live', {
    config: { access: ['admin', 'clinician', 'board'] },
    schema: {
      tags: ['live'],
      summary: "A site's live stream (text/event-stream)",
      description:
        'Events `hello`, `heartbeat`, `reading`, `event`, `alarm` and `device`, each with one JSON object as data. ' +
        "`heartbeat` comes every 5 s with the hub's readiness (`ready`, and `reason` when false, as GET /readyz says) and an `id`: a client that misses two, or reads `ready: false`, must show itself as stale. " +
        'Readings and events about a participant without care.live consent are not sent; their alarms are, with `withheld: true`. ' +
        'A reconnect may send `Last-Event-ID`; the stream does not replay (hello says `resume: "reload"`): load GET /v1/live/board again after each hello. ' +
        'When the token is revoked or expires, or the hub shuts down, an `end` event is sent and the stream closes within a few seconds. ' +
        'Streams are capped per token and in all (API_LIVE_MAX_PER_TOKEN, API_LIVE_MAX_TOTAL): beyond, 429 TOO_MANY_STREAMS with Retry-After.',
      querystring: SiteQuery,
      response: problems(400, 401, 403, 404, 429),
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const res = reply.raw;
      // A peer that left while we awaited gets nothing, and leaves nothing behind.
      const gone = (): boolean => closing || res.destroyed || request.raw.socket.destroyed;
      const site = await watchedSite(deps.registry, principal, request.query.siteId);
      if (gone()) {
        reply.hijack();
        return;
      }

      const mine = held.get(principal.tokenId) ?? 0;
      if (mine >= limits.perToken)
        throw refuseFor(reply, RETRY_AFTER_S, 'TOO_MANY_STREAMS', `this token already holds ${mine} live streams (at most ${limits.perToken})`);
      if (slots >= limits.total) throw refuseFor(reply, RETRY_AFTER_S, 'TOO_MANY_STREAMS', `the hub holds its ${limits.total} live streams`);
      held.set(principal.tokenId, mine + 1);
      slots++;

      reply.hijack();
      let unsubscribe = (): void => undefined;
      const tokenCheck = setInterval(() => checkToken(), TOKEN_CHECK_MS);
      let stall: NodeJS.Timeout | undefined;
      res.once('close', () => {
        unsubscribe();
        clearInterval(tokenCheck);
        clearTimeout(stall);
        streams.delete(res);
        slots--;
        const left = (held.get(principal.tokenId) ?? 1) - 1;
        if (left > 0) held.set(principal.tokenId, left);
        else held.delete(principal.tokenId);
      });
      tokenCheck.unref();
      streams.set(res, (text) => write(text));

      const write = (text: string | null): void => {
        if (text === null || res.destroyed || res.writableEnded) return;
        const drained = res.write(text);
        if (res.writableLength > MAX_BUFFERED_BYTES) return void res.destroy();
        if (!drained && stall === undefined) {
          stall = setTimeout(() => res.destroy(), DRAIN_TIMEOUT_MS);
          res.once('drain', () => {
            clearTimeout(stall);
            stall = undefined;
          });
        }
      };
      // The token was valid when the stream opened; a release goes on only while it stays so.
      const token = bearerOf(request);
      const endIfInvalid = async (): Promise<void> => {
        if (res.destroyed || (token !== undefined && (await deps.registry.verifyToken(token, now())) !== undefined)) return;
        end(res, 'token revoked or expired');
      };
      const checkToken = (): void => {
        endIfInvalid().catch((err: unknown) => {
          request.log.error({ err }, 'live stream token check failed; stream closed');
          res.destroy();
        });
      };

      // A release of live data: audited when it starts (an open stream has no onSend). The
      // stream does not wait for the append to answer: it subscribes and says hello at once
      // (the board loads on hello, so nothing committed after it may be missed), and every
      // frame waits in the chain below until the entry is written. Nothing about a participant
      // leaves before it is; if it cannot be written, the stream ends without data.
      let audited = false;
      let pending = 0;
      let tail: Promise<void> = Promise.resolve(
        (deps.registry as Partial<Pick<Registry, 'audit'>>).audit?.append({
          actor: { role: principal.role, tokenId: principal.tokenId },
          action: 'GET /v1/live',
          target: '/v1/live',
          detail: { siteId: site.id },
        }),
      ).then(
        () => {
          audited = true;
        },
        (err: unknown) => {
          request.log.error({ err }, 'live stream not audited; closed before any data');
          end(res, 'the hub could not record this stream');
        },
      );
      // Consent answers are asynchronous too; the chain keeps the stream in commit order.
      unsubscribe = feed.subscribe((m) => {
        if (siteOf(m) !== site.id) return;
        const [participantId, at] = subjectOf(m);
        if (audited && pending === 0 && (participantId === null || principal.role === 'admin')) return write(frame(m, true));
        // A stream whose chain does not move (a stalled audit or consent store) is closed like a slow reader.
        if (pending >= MAX_PENDING_FRAMES) return void res.destroy();
        pending++;
        tail = tail
          .then(async () => write(frame(m, await mayShow(consent, principal, participantId, at, now()))))
          .catch((err: unknown) => request.log.error({ err }, 'live stream write failed'))
          .finally(() => pending--);
      });
      // Hijacked, so the onSend hook of security-headers.ts does not run: its headers are set here.
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      // Small frames must leave at once, not wait for Nagle's algorithm.
      res.socket?.setNoDelay(true);
      // No replay: the board reloads its whole state after each hello (see the description).
      const lastEventId = request.headers['last-event-id'];
      const since = typeof lastEventId === 'string' && /^\d{1,15}$/.test(lastEventId) ? iso(Number(lastEventId)) : null;
      write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ siteId: site.id, at: iso(now()), heartbeatMs: HEARTBEAT_MS, resume: 'reload', since })}\n\n`);
    },
  });
};
