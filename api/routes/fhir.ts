import type { FastifyError, FastifyPluginAsync } from 'fastify';
import type { AlarmService } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import { newPseudonymKey, pseudonymiser } from '../../kernel/pseudonym.js';
import { operationOutcome } from '../../fhir/bundle.js';
import { capabilityStatement } from '../../fhir/capability.js';
import { iso } from '../../fhir/systems.js';
import type { FhirSettings } from '../config.js';
import type { ApiDeps } from '../deps.js';
import { classify } from '../problem.js';
import { type FhirContext, HIDDEN } from './fhir-context.js';
import { fhirConsentRoutes } from './fhir-consents.js';
import { fhirDeviceRoutes } from './fhir-devices.js';
import { fhirFlagRoutes } from './fhir-flags.js';
import { fhirObservationRoutes } from './fhir-observations.js';

/** FHIR R4 §3.1.0.1.6: the JSON media type. */
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * The FHIR R4 read API under /fhir. The routes hold the same rules as the hub's own JSON
 * routes (role, binding, consent, pseudonyms, audit); only the shapes are FHIR's:
 * resources and Bundles as application/fhir+json, every error as an OperationOutcome
 * with the hub's stable code in issue.details (kernel/errors.ts), whatever raised it
 * (authentication, rate limits, validation, a missing route under /fhir).
 */
export const fhirRoutes: FastifyPluginAsync<{ deps: ApiDeps; settings: FhirSettings; alarms: AlarmService | undefined }> = async (
  app,
  { deps, settings, alarms },
) => {
  const ctx: FhirContext = {
    registry: deps.registry,
    store: deps.store,
    profiles: deps.profiles,
    pseudonym: pseudonymiser(deps.pseudonymKey ?? newPseudonymKey()),
    settings,
    clock: deps.now ?? Date.now,
    base: (request) => `${request.protocol}://${request.host}/fhir`,
  };

  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 || String(reply.getHeader('content-type') ?? '').startsWith('application/fhir+json')) reply.type(FHIR_JSON);
    return payload;
  });
  app.setErrorHandler((error: FastifyError | HubError | Error, request, reply) => {
    const problem = classify(error, request);
    if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, 'request failed');
    else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
    // A string payload, like problem+json: it never goes back through a serializer.
    return reply
      .status(problem.status)
      .type(FHIR_JSON)
      .send(JSON.stringify(operationOutcome(problem.code, problem.detail)));
  });
  app.setNotFoundHandler((request) => {
    throw new HubError('NOT_FOUND', `no FHIR interaction ${request.method} ${(request.url ?? '').split('?')[0]}`);
  });

  const built = iso(ctx.clock());
  // Flags need the alarm engine; a process without one does not claim them.
  const served = ['Observation', 'Device', 'Consent', ...(alarms ? ['Flag'] : [])];
  app.get('/metadata', {
    config: { access: 'public' },
    schema: HIDDEN,
    handler: async (request, reply) => reply.send(capabilityStatement(ctx.base(request), built, served)),
  });
  await app.register(fhirObservationRoutes, { ctx });
  await app.register(fhirDeviceRoutes, { ctx });
  await app.register(fhirConsentRoutes, { ctx });
  if (alarms) await app.register(fhirFlagRoutes, { ctx, alarms });
};
