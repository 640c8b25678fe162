import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BoardPairing, BoardPairings } from '../../kernel/board-pairings.js';
import { HubError } from '../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IsoTime, Name, iso, listOf } from '../schemas/common.js';

const tags = ['ward'];
const SiteParams = z.object({ siteId: Id });

const PairingDto = z.object({
  id: z.string(),
  siteId: Id,
  label: z.string(),
  createdAt: IsoTime,
  expiresAt: IsoTime,
  claimedAt: IsoTime.nullable().describe('When a tablet exchanged the code; a code works once'),
  tokenId: z.string().nullable().describe('The board token it was exchanged for: revoke it with DELETE /v1/tokens/{id}'),
  revokedAt: IsoTime.nullable().describe("When the board's token was revoked"),
});

/**
 * Pairing a ward tablet with a site: arena staff create a one-time code, the tablet
 * exchanges it for a board token (role board, bound to that one site) and keeps it, so
 * a restart needs no token pasted and clinicians only give their name. A board token
 * reaches the live board, the stream and its site's alarm actions, nothing else
 * (api/auth.ts denies every route that does not list the role).
 */
export const boardPairingRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; boards: BoardPairings }> = async (app, { deps, boards }) => {
  const { registry } = deps;
  const now = deps.now ?? Date.now;

  app.post('/v1/sites/:siteId/board-pairings', {
    config: { access: ['admin'] },
    schema: {
      tags,
      summary: 'Create a one-time pairing code for a ward tablet',
      description:
        'The code is in this response only and works once, within 15 minutes: type it on the tablet at /ward, or open `url` there (a QR code of it serves as well). ' +
        'The tablet gets a board token bound to this site.',
      params: SiteParams,
      body: z.object({ label: Name.describe('What the board will be called, e.g. "Nurses\' station, ward 3"') }),
      response: {
        201: PairingDto.extend({ code: z.string().describe('e.g. "7KQ2-M9XD"; case, spaces and dashes do not matter'), url: z.string() }),
        ...problems(400, 401, 403, 404),
      },
    },
    handler: async (request, reply) => {
      const site = await registry.getSite(request.params.siteId);
      if (!site) throw new HubError('NOT_FOUND', `no site "${request.params.siteId}"`);
      const { code, pairing } = await boards.create(site.id, request.body.label, now());
      reply.header('cache-control', 'no-store');
      // The code travels in the fragment, which the browser never sends to a server.
      return reply.status(201).send({ ...toDto(pairing, null), code, url: `/ward#pair=${encodeURIComponent(code)}` });
    },
  });

  app.get('/v1/sites/:siteId/board-pairings', {
    config: { access: ['admin'] },
    schema: {
      tags,
      summary: "A site's pairings and the boards paired with them",
      params: SiteParams,
      response: { 200: listOf(PairingDto), ...problems(400, 401, 403) },
    },
    handler: async (request) => {
      const revoked = new Map((await registry.listTokens()).map((t) => [t.id, t.revokedAt]));
      return { items: (await boards.list(request.params.siteId)).map((p) => toDto(p, p.tokenId === null ? null : (revoked.get(p.tokenId) ?? null))) };
    },
  });

  app.post('/v1/board-pairings/exchange', {
    // Public: the tablet has nothing else yet. Limited per address like every public route (api/rate-limits.ts).
    config: { access: 'public' },
    schema: {
      tags,
      summary: 'Exchange a pairing code for a board token',
      description: 'Answers 404 alike for an unknown, used or expired code. The token is in this response only.',
      body: z.object({ code: z.string().trim().min(4).max(32) }),
      response: {
        201: z.object({ token: z.string(), tokenId: z.string(), siteId: Id, label: z.string() }),
        ...problems(400, 404, 429),
      },
    },
    handler: async (request, reply) => {
      const pairing = await boards.claim(request.body.code, now());
      if (!pairing) throw new HubError('NOT_FOUND', 'no pairing for this code: it is unknown, used or expired');
      const { id, token } = await registry.issueToken({ role: 'board', siteIds: [pairing.siteId], label: pairing.label, expiresAt: null });
      await boards.bind(pairing.id, id);
      await registry.audit.append({
        actor: { role: 'board', tokenId: id },
        action: 'POST /v1/board-pairings/exchange',
        target: pairing.id,
        detail: { siteId: pairing.siteId },
      });
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ token, tokenId: id, siteId: pairing.siteId, label: pairing.label });
    },
  });
};

const toDto = (p: BoardPairing, revokedAt: number | null): z.infer<typeof PairingDto> => ({
  id: p.id,
  siteId: p.siteId,
  label: p.label,
  createdAt: iso(p.createdAt),
  expiresAt: iso(p.expiresAt),
  claimedAt: p.claimedAt === null ? null : iso(p.claimedAt),
  tokenId: p.tokenId,
  revokedAt: revokedAt === null ? null : iso(revokedAt),
});
