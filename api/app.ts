import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createSerializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { auditTrail } from './audit-trail.js';
import { auth } from './auth.js';
import { DEFAULT_FHIR, DEFAULT_LIMITS } from './config.js';
import type { ApiDeps } from './deps.js';
import { registerDocs } from './docs.js';
import { problemHandling } from './problem.js';
import { limitsAfterAuth, limitsBeforeAuth } from './rate-limits.js';
import { securityHeaders } from './security-headers.js';
import { boundedClose } from './shutdown.js';
import { httpsServer } from './https.js';
import { metricsRoutes } from './metrics.js';
import { deviceDataRoutes } from './routes/device-data.js';
import { deviceRoutes } from './routes/devices.js';
import { healthRoutes } from './routes/health.js';
import { ingestStatsRoutes } from './routes/ingest-stats.js';
import { profileRoutes } from './routes/profiles.js';
import { profileDecodeRoutes } from './routes/profile-decode.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { rejectionRoutes } from './routes/rejections.js';
import { siteRoutes } from './routes/sites.js';
import { tokenRoutes } from './routes/tokens.js';
import { vendorRoutes } from './routes/vendors.js';
import { alarmRoutes } from './routes/alarms.js';
import { alarmSettingsRoutes } from './routes/alarms-settings.js';
import { liveRoutes } from './routes/live.js';
import { liveBoardRoutes } from './routes/live-board.js';
import { wardRoutes } from './ward/routes.js';
import { boardPairingRoutes } from './ward/pairing.js';
import { retentionRoutes } from './routes/retention.js';
import { trialRoutes } from './routes/trials.js';
import { participantRoutes } from './routes/participants.js';
import { consentRoutes } from './routes/consents.js';
import { assignmentRoutes } from './routes/assignments.js';
import { datasetRoutes } from './routes/datasets.js';
import { reportRoutes } from './routes/reports.js';
import { auditRoutes } from './routes/audit.js';
import { conformanceRoutes } from './routes/conformance.js';
import { vendorDeviceRoutes } from './routes/vendor-devices.js';
import { vendorPageRoutes } from './vendor/routes.js';
import { fhirRoutes } from './routes/fhir.js';

export type { ApiDeps } from './deps.js';

/** How long requests still open at shutdown are waited for before their connections are cut. */
const SHUTDOWN_GRACE_MS = 5_000;

// Message ids are 64-bit; DTOs already carry them as strings, this guards any bigint left over.
const serializerCompiler = createSerializerCompiler({ replacer: (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value) });

/**
 * The HTTP API, built but not listening: the composition root calls listen(), tests call
 * inject(). The deps stay owned by the caller; closing the app does not close them.
 */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const https = deps.tls && httpsServer(deps.tls, deps.logger);
  const app = Fastify({
    // Typed as fastify's logger so the instance keeps the default generics route plugins expect.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Bodies are small JSON documents; anything larger is a mistake or an attack.
    bodyLimit: 256 * 1024,
    // Route params are SafeIds; this only bounds the router's work on hostile URLs.
    routerOptions: { maxParamLength: 200 },
    ...(https ? { serverFactory: https.serverFactory } : {}),
  });
  if (https) app.addHook('onClose', async () => https.stop());
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(boundedClose, { graceMs: SHUTDOWN_GRACE_MS });
  await app.register(securityHeaders);
  await app.register(problemHandling);
  await registerDocs(app);
  const limits = deps.limits ?? DEFAULT_LIMITS;
  await app.register(limitsBeforeAuth, { limits });
  await app.register(auth, { verifyToken: deps.registry.verifyToken, now: deps.now });
  await app.register(limitsAfterAuth, { limits });
  await app.register(auditTrail, { audit: deps.registry.audit });

  await app.register(healthRoutes, { deps });
  await app.register(profileRoutes, { deps });
  await app.register(profileDecodeRoutes, { deps });
  await app.register(catalogueRoutes, { deps });
  await app.register(siteRoutes, { deps });
  await app.register(vendorRoutes, { deps });
  await app.register(deviceRoutes, { deps });
  await app.register(deviceDataRoutes, { deps });
  await app.register(rejectionRoutes, { deps });
  await app.register(tokenRoutes, { deps });
  await app.register(trialRoutes, { deps });
  await app.register(retentionRoutes, { deps });
  await app.register(participantRoutes, { deps });
  await app.register(consentRoutes, { deps });
  await app.register(assignmentRoutes, { deps });
  await app.register(datasetRoutes, { deps, limits: limits.exports });
  await app.register(reportRoutes, { deps });
  await app.register(auditRoutes, { deps });
  await app.register(vendorDeviceRoutes, { deps });
  await app.register(vendorPageRoutes);
  await app.register(fhirRoutes, { prefix: '/fhir', deps, settings: deps.fhir ?? DEFAULT_FHIR, alarms: deps.alarms });
  if (deps.conformance) await app.register(conformanceRoutes, { deps, conformance: deps.conformance });
  if (deps.ingestStats) await app.register(ingestStatsRoutes, { stats: deps.ingestStats });
  if (deps.metrics) await app.register(metricsRoutes, { ...deps.metrics, verifyToken: deps.registry.verifyToken });
  if (deps.alarms) {
    await app.register(alarmRoutes, { deps, alarms: deps.alarms });
    await app.register(alarmSettingsRoutes, { deps, alarms: deps.alarms });
    await app.register(liveBoardRoutes, { deps, alarms: deps.alarms });
    if (deps.live) await app.register(liveRoutes, { deps, feed: deps.live, limits: limits.live });
    await app.register(wardRoutes);
    if (deps.boards) await app.register(boardPairingRoutes, { deps, boards: deps.boards });
  }
  return app;
}
