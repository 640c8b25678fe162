import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { buildCodebook, codebookCsv } from '../../datasets/codebook.js';
import { COLUMNS, columnsFor, type DatasetAudience } from '../../datasets/columns.js';
import { READ_CHUNK_BYTES, writeExport } from '../../datasets/export.js';
import { MEDIA_TYPES } from '../../datasets/formats.js';
import { buildDenominators } from '../../datasets/denominators.js';
import { observationPeriods, observationPeriodsCsv } from '../../datasets/observation-periods.js';
import { buildManifest } from '../../datasets/manifest.js';
import type { Profile } from '../../device-profiles/schema.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import { newPseudonymKey, pseudonymiser } from '../../kernel/pseudonym.js';
import type { Family } from '../../kernel/telemetry.js';
import type { Trial } from '../../kernel/trials.js';
import { noteForAudit } from '../audit-trail.js';
import { principalOf } from '../auth.js';
import type { ApiLimits } from '../config.js';
import type { ApiDeps } from '../deps.js';
import { exportGate } from '../export-limits.js';
import { problems } from '../problem.js';
import { IdParams } from '../schemas/common.js';
import { iso } from '../schemas/common.js';
import { CodebookDto, CodebookQuery, DatasetQuery, ManifestDto, ObservationPeriodsDto, ObservationPeriodsQuery } from '../schemas/datasets.js';
import { IdOnlyParams } from '../schemas/trials.js';
import { visibleTrial } from '../trial-access.js';

const tags = ['datasets'];
// Any: the body is a file stream, which fastify sends as is, never through a serializer.
const FileBody = z.any().describe('The dataset file');

/**
 * Per-trial datasets. The export is written to a temp file first (by the store's engine
 * when it can, else streamed through JS in constant memory; datasets/export.ts),
 * then its manifest is recorded and the release audited, and only then is the file
 * streamed: the SHA-256 in the manifest is of exactly the bytes sent, and no byte
 * leaves the hub unaudited. The manifest stays available at /v1/exports/{id}/manifest.
 */
export const datasetRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; limits: ApiLimits['exports'] }> = async (app, { deps, limits }) => {
  const { registry, store, profiles } = deps;
  const clock = deps.now ?? Date.now;
  const pseudonym = pseudonymiser(deps.pseudonymKey ?? newPseudonymKey());
  const exportDir = deps.exportDir ?? tmpdir();
  const gate = exportGate(limits);

  const audienceOf = (p: Principal): DatasetAudience => (p.role === 'researcher' ? 'research' : 'vendor.telemetry');

  /** Profiles of the devices whose data the caller can get from this trial. */
  const profilesOf = async (trial: Trial, p: Principal): Promise<Profile[]> => {
    const vendors = p.role === 'vendor' ? [p.vendorId] : trial.vendorIds;
    const ids = new Set<string>();
    for (const vendorId of vendors) for (const d of await registry.listDevices({ vendorId })) ids.add(d.profileId);
    return [...ids].flatMap((id) => {
      const decoder = profiles.get(id);
      return decoder ? [decoder.profile] : [];
    });
  };

  app.get('/v1/trials/:id/dataset', {
    config: { access: ['researcher', 'vendor'], release: true },
    schema: {
      tags,
      summary: "Export a trial's data as CSV, NDJSON or Parquet",
      description:
        'Researchers (bound to the trial) get rows of participants who held `research` at measurement time and have not withdrawn it, with a per-trial pseudonym. ' +
        'Vendors (taking part) get only their own devices, rows under `vendor.telemetry` plus device data, and no participant reference. ' +
        'Response headers: x-export-id, x-export-rows, x-export-sha256, repr-digest (RFC 9530) and link to the manifest. Every export is audited. ' +
        'Exports running or unread are capped per token and in all (429 TOO_MANY_EXPORTS with Retry-After), and so is the temp space they hold (413 EXPORT_TOO_LARGE).',
      params: IdParams,
      querystring: DatasetQuery,
      response: {
        200: {
          description: 'The dataset; its manifest is at /v1/exports/{x-export-id}/manifest',
          content: { 'text/csv': { schema: FileBody }, 'application/x-ndjson': { schema: FileBody }, 'application/vnd.apache.parquet': { schema: FileBody } },
        },
        ...problems(400, 401, 403, 404, 413, 429),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const trial = await visibleTrial(registry, principal, request.params.id);
      const audience = audienceOf(principal);
      const q = request.query;
      const now = clock();
      const from = Math.max(q.from ?? -Infinity, trial.period.from);
      const to = Math.max(from, Math.min(q.to ?? Infinity, trial.period.to));
      const windows = await registry.consent.windows(trial.id, audience, now);
      let deviceIds: string[] | undefined = q.deviceId === undefined ? undefined : [q.deviceId];
      if (principal.role === 'vendor') {
        const own = (await registry.listDevices({ vendorId: principal.vendorId })).map((d) => d.id);
        deviceIds = deviceIds ? own.filter((id) => deviceIds!.includes(id)) : own;
      }
      const includeDeviceData = audience === 'vendor.telemetry' || trial.researchDeviceData;
      const query = {
        trialId: trial.id,
        from,
        to,
        ...(q.family !== undefined ? { family: q.family as Family } : {}),
        ...(q.kind !== undefined ? { kind: q.kind } : {}),
        ...(q.name !== undefined ? { names: [q.name] } : {}),
        ...(deviceIds !== undefined ? { deviceIds } : {}),
        release: { windows, includeDeviceData },
      };
      const columns = columnsFor(audience);
      // Alarm ids go through the same keyed, per-trial, per-audience HMAC; "alarm:" cannot begin a participant id (kernel/ids.ts).
      const ctx = {
        audience,
        trial,
        pseudonym: (participantId: string) => pseudonym(trial.id, audience, participantId),
        alarmRef: (alarmId: string) => pseudonym(trial.id, audience, `alarm:${alarmId}`),
      };
      const dir = mkdtempSync(join(exportDir, 'arena-export-'));
      let slot: ReturnType<typeof gate.enter> | undefined;
      const cleanup = (): void => {
        rmSync(dir, { recursive: true, force: true });
        slot?.release();
      };
      try {
        slot = gate.enter(principal.tokenId, dir, reply);
        const written = await slot.write(writeExport(store, { query, columns, ctx }, q.format, dir));
        const exportId = `exp-${randomBytes(12).toString('base64url')}`;
        const filters = { from, to, family: q.family, name: q.name, deviceId: q.deviceId, kind: q.kind };
        const codebook = buildCodebook(trial.id, [audience], COLUMNS, await profilesOf(trial, principal), profiles.catalogue);
        const vendorId = principal.role === 'vendor' ? principal.vendorId : null;
        const exportable = (await Promise.all((vendorId ? [vendorId] : trial.vendorIds).map((v) => registry.listDevices({ vendorId: v })))).flat();
        const denominators = buildDenominators({
          devices: exportable.filter((d) => deviceIds === undefined || deviceIds.includes(d.id)),
          expectedIntervalS: (id) => profiles.get(id)?.profile.expectedIntervalS,
        });
        const manifest = buildManifest({
          exportId,
          createdAt: now,
          trial,
          audience,
          vendorId,
          format: q.format,
          filters,
          includeDeviceData,
          participantsReleased: new Set(windows.map((w) => w.participantId)).size,
          written,
          codebook,
          codebookUrl: `/v1/trials/${trial.id}/codebook`,
          denominators,
        });
        await registry.recordExport({ id: exportId, trialId: trial.id, audience, vendorId, tokenId: principal.tokenId, createdAt: now, manifest });
        noteForAudit(request, { exportId, format: q.format, audience, rows: written.rows.total, sha256: written.sha256, filters: manifest.filters ?? null });
        const stream = createReadStream(written.file, { highWaterMark: READ_CHUNK_BYTES });
        // Whether the client reads it all, aborts, or the audit hook refuses to send it.
        stream.once('close', cleanup);
        reply.raw.once('close', () => stream.destroy());
        // A caller gone during the write: 'close' has fired already, and its slot must not wait for it.
        if (reply.raw.destroyed || request.raw.socket.destroyed) stream.destroy();
        const ext = q.format === 'ndjson' ? 'ndjson' : q.format;
        return reply
          .type(MEDIA_TYPES[q.format])
          .header('content-disposition', `attachment; filename="${trial.id}-${exportId}.${ext}"`)
          .header('content-length', written.bytes)
          .header('cache-control', 'no-store')
          .header('x-export-id', exportId)
          .header('x-export-rows', written.rows.total)
          .header('x-export-sha256', written.sha256)
          .header('repr-digest', `sha-256=:${Buffer.from(written.sha256, 'hex').toString('base64')}:`)
          .header('link', `</v1/exports/${exportId}/manifest>; rel="describedby"`)
          .send(stream);
      } catch (e) {
        cleanup();
        throw e;
      }
    },
  });

  app.get('/v1/trials/:id/codebook', {
    config: { access: ['admin', 'researcher', 'vendor'] },
    schema: {
      tags,
      summary: "The codebook of a trial's datasets (JSON or CSV)",
      description: 'Every column, measurement, unit, event and code, generated from the device profiles. Holds no participant data.',
      params: IdParams,
      querystring: CodebookQuery,
      response: {
        200: { description: 'The codebook', content: { 'application/json': { schema: CodebookDto }, 'text/csv': { schema: FileBody } } },
        ...problems(400, 401, 403, 404),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const trial = await visibleTrial(registry, principal, request.params.id);
      const audiences: DatasetAudience[] = principal.role === 'admin' ? ['research', 'vendor.telemetry'] : [audienceOf(principal)];
      const codebook = buildCodebook(trial.id, audiences, COLUMNS, await profilesOf(trial, principal), profiles.catalogue);
      if (request.query.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8; header=present')
          .header('content-disposition', `attachment; filename="${trial.id}-codebook.csv"`)
          .send(codebookCsv(codebook));
      }
      return reply.type('application/json; charset=utf-8').send(codebook);
    },
  });

  app.get('/v1/trials/:id/observation-periods', {
    config: { access: ['researcher'], release: true },
    schema: {
      tags,
      summary: 'When each pseudonym was observed, by which device (JSON or CSV)',
      description:
        "The denominators of completeness: for each pseudonym of the trial's research datasets, the intervals in which a device was assigned to the participant, " +
        "inside the trial period and the participant's `research` consent as the dataset rule gives it, up to now, with the device's expected interval. " +
        'Built at request time and never stored (a stored pseudonym would outlive erasure); audited like a dataset release. Vendors get no participant reference, so no periods.',
      params: IdParams,
      querystring: ObservationPeriodsQuery,
      response: {
        200: { description: 'The periods', content: { 'application/json': { schema: ObservationPeriodsDto }, 'text/csv': { schema: FileBody } } },
        ...problems(400, 401, 403, 404),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const trial = await visibleTrial(registry, principal, request.params.id);
      const now = clock();
      const audience = 'research' as const;
      const devices = new Map<string, string>();
      for (const vendorId of trial.vendorIds) for (const d of await registry.listDevices({ vendorId })) devices.set(d.id, d.profileId);
      const rows = observationPeriods({
        trialPeriod: trial.period,
        windows: await registry.consent.windows(trial.id, audience, now),
        assignments: await registry.listAssignments({ trialId: trial.id }),
        now,
        pseudonym: (participantId) => pseudonym(trial.id, audience, participantId),
        profileOf: (deviceId) => devices.get(deviceId),
        expectedIntervalS: (profileId) => profiles.get(profileId)?.profile.expectedIntervalS,
      });
      noteForAudit(request, { audience, rows: rows.length, pseudonyms: new Set(rows.map((r) => r.pseudonym)).size });
      reply.header('cache-control', 'no-store');
      if (request.query.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8; header=present')
          .header('content-disposition', `attachment; filename="${trial.id}-observation-periods.csv"`)
          .send(observationPeriodsCsv(rows));
      }
      return reply.type('application/json; charset=utf-8').send({
        trialId: trial.id,
        audience,
        generatedAt: iso(now),
        items: rows.map((r) => ({ ...r, from: iso(r.from), to: iso(r.to) })),
      });
    },
  });

  app.get('/v1/exports/:id/manifest', {
    config: { access: ['admin', 'researcher', 'vendor'] },
    schema: {
      tags,
      summary: 'The manifest of an export',
      description: 'An admin sees every manifest; a researcher those of research exports of its trials; a vendor its own exports. Anything else is 404.',
      params: IdOnlyParams,
      response: { 200: ManifestDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const p = principalOf(request);
      const record = await registry.getExport(request.params.id);
      const allowed =
        record !== undefined &&
        (p.role === 'admin' ||
          (p.role === 'researcher' && record.audience === 'research' && p.trialIds.includes(record.trialId)) ||
          (p.role === 'vendor' && record.vendorId === p.vendorId));
      if (!allowed) throw new HubError('NOT_FOUND', `no export "${request.params.id}"`);
      return record.manifest;
    },
  });
};
