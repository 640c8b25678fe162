import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { listOf } from '../schemas/common.js';
import { AuditEntryDto, AuditQuery, AuditVerdictDto, toAuditEntryDto, toVerdictDto } from '../schemas/audit.js';

const admin = { access: ['admin'] } as const;
const tags = ['audit'];

/** The audit log, read-only: entries are appended by api/audit-trail.ts, never through a route. */
export const auditRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { audit } = deps.registry;

  app.get('/v1/audit', {
    config: admin,
    schema: {
      tags,
      summary: 'Read the audit log, oldest first',
      description: 'One entry per data release and per administrative change, hash-chained.',
      querystring: AuditQuery,
      response: { 200: listOf(AuditEntryDto), ...problems(400, 401, 403) },
    },
    handler: async (request) => ({ items: (await audit.list(request.query)).map(toAuditEntryDto) }),
  });

  app.get('/v1/audit/verify', {
    config: admin,
    schema: {
      tags,
      summary: 'Verify the hash chain of the whole audit log',
      description: 'ok with the head hash and count, or the first entry that does not verify. Offline: node dist/audit/verify.js --data <dir>.',
      response: { 200: AuditVerdictDto, ...problems(401, 403) },
    },
    handler: async () => toVerdictDto(await audit.verify()),
  });
};
