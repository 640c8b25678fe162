import type { FastifyPluginAsync } from 'fastify';
import { CONSENT_SCOPES, type ConsentRecord } from '../../kernel/trials.js';
import { searchset } from '../../fhir/bundle.js';
import { SEARCH_PARAMS } from '../../fhir/capability.js';
import { toConsent } from '../../fhir/consent.js';
import { noteForAudit } from '../audit-trail.js';
import { type FhirContext, HIDDEN } from './fhir-context.js';
import { PAGE, identifierParam, offsetPage, pageLinks, searchQuery } from './fhir-search.js';

const PARAMS = [...SEARCH_PARAMS.Consent!.map(([name]) => name), 'patient:identifier', PAGE];

/**
 * Consent records as FHIR Consents, for arena staff only (they record them). Each names
 * the participant by the pseudonym of the audience its scope releases to (fhir/consent.ts),
 * never by the hub's id. Every read is audited like GET /v1/participants/{id}/consents.
 */
export const fhirConsentRoutes: FastifyPluginAsync<{ ctx: FhirContext }> = async (app, { ctx }) => {
  const { registry, pseudonym } = ctx;
  const system = ctx.settings.subjectSystem;

  app.get('/Consent', {
    config: { access: ['admin'], auditRead: true },
    schema: HIDDEN,
    handler: async (request, reply) => {
      const q = searchQuery(request.query, PARAMS);
      const named = identifierParam(q, ['patient']);
      const found: { record: ConsentRecord; trialId: string }[] = [];
      for (const trial of await registry.listTrials())
        for (const p of await registry.listParticipants(trial.id)) {
          if (p.erasedAt !== null) continue;
          if (named && (named.system !== system || !CONSENT_SCOPES.some((s) => pseudonym(trial.id, s, p.id) === named.value))) continue;
          for (const record of await registry.listConsents(p.id)) found.push({ record, trialId: trial.id });
        }
      const { page, next } = offsetPage(found, q);
      noteForAudit(request, { rows: page.length });
      const links = pageLinks(ctx.base(request), '/Consent', q, next);
      const consents = page.map(({ record, trialId }) => toConsent(record, { system, value: pseudonym(trialId, record.scope, record.participantId) }));
      return reply.send(searchset(ctx.base(request), consents, links.self, links.next));
    },
  });
};
