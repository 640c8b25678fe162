import type { FastifyPluginAsync } from 'fastify';
import type { AlarmService, AlarmState } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import { searchset } from '../../fhir/bundle.js';
import { SEARCH_PARAMS } from '../../fhir/capability.js';
import { FLAG_STATUS, toFlag } from '../../fhir/flag.js';
import { noteForAudit } from '../audit-trail.js';
import { principalOf } from '../auth.js';
import { consentOf, mayShow, siteScope } from './live-access.js';
import { fhirAudience } from './fhir-audience.js';
import { type FhirContext, HIDDEN } from './fhir-context.js';
import { LAST_UPDATED, PAGE, dateBounds, identifierParam, offsetPage, pageLinks, searchQuery, tokens } from './fhir-search.js';

const PARAMS = [...SEARCH_PARAMS.Flag!.map(([name]) => name), 'subject:identifier', 'patient:identifier', PAGE];
const STATES_OF = (status: string): AlarmState[] => {
  const states = (Object.keys(FLAG_STATUS) as AlarmState[]).filter((s) => FLAG_STATUS[s] === status);
  if (states.length === 0) throw new HubError('VALIDATION_FAILED', `status is one of ${[...new Set(Object.values(FLAG_STATUS))].join(', ')}`);
  return states;
};

/**
 * Alarms as FHIR Flags (fhir/flag.ts says why Flag), newest first, for the clinical
 * integrations of the sites a clinician token watches, under the live view's rule: an
 * alarm about a participant is released only when the participant held care.live when
 * it was raised (api/routes/live-access.ts mayShow). Open alarms: status=active.
 */
export const fhirFlagRoutes: FastifyPluginAsync<{ ctx: FhirContext; alarms: AlarmService }> = async (app, { ctx, alarms }) => {
  const consent = consentOf(ctx.registry);

  app.get('/Flag', {
    config: { access: ['clinician'], release: true },
    schema: HIDDEN,
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const q = searchQuery(request.query, PARAMS);
      const states = q.status ? [...new Set(tokens(q.status).flatMap((t) => STATES_OF(t.code)))] : undefined;
      const raised = dateBounds(q.date);
      const updated = dateBounds(q[LAST_UPDATED]);
      const audience = await fhirAudience(ctx.registry, principal, ctx.pseudonym, ctx.settings.subjectSystem);
      const named = identifierParam(q, ['subject', 'patient']);
      const who = named ? await audience.participant(named) : undefined;
      const now = ctx.clock();
      const found =
        named && !who
          ? []
          : await alarms.listAlarms({ siteIds: siteScope(principal, undefined), ...(states ? { states } : {}), limit: Number.MAX_SAFE_INTEGER });
      const released = [];
      for (const a of found) {
        if (who && a.participantId !== who.participantId) continue;
        if (a.raisedAt < raised.from || a.raisedAt >= raised.to || a.updatedAt < updated.from || a.updatedAt >= updated.to) continue;
        if (!(await mayShow(consent, principal, a.participantId, a.raisedAt, now))) continue;
        released.push(a);
      }
      const { page, next } = offsetPage(released, q);
      noteForAudit(request, { rows: page.length });
      const links = pageLinks(ctx.base(request), '/Flag', q, next);
      const flags = page.map((a) =>
        toFlag(a, {
          subject: a.participantId === null ? null : audience.subject(a.trialId, a.participantId),
          event: ctx.profiles.catalogue.events.get(a.event),
          alarmRef: a.id,
        }),
      );
      return reply.send(searchset(ctx.base(request), flags, links.self, links.next));
    },
  });
};
