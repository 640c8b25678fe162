import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { PointQuery } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { HubError } from '../../kernel/errors.js';
import { searchset } from '../../fhir/bundle.js';
import { SEARCH_PARAMS } from '../../fhir/capability.js';
import { observationCode, toObservation } from '../../fhir/observation.js';
import { fhirId } from '../../fhir/systems.js';
import type { Resource } from '../../fhir/types.js';
import { noteForAudit } from '../audit-trail.js';
import { principalOf } from '../auth.js';
import { deviceRelease } from '../trial-access.js';
import { type FhirAudience, fhirAudience } from './fhir-audience.js';
import { type FhirContext, HIDDEN } from './fhir-context.js';
import { LAST_UPDATED, PAGE, type SearchQuery, countOf, dateBounds, identifierParam, pageLinks, searchQuery, single, tokens } from './fhir-search.js';

const PARAMS = [...SEARCH_PARAMS.Observation!.map(([name]) => name), 'subject:identifier', 'patient:identifier', PAGE];

/** What a caller may be released: the store query, a further test per point, and as whom participants appear. */
interface Release {
  readonly query: PointQuery;
  readonly keep: (p: Point) => boolean;
  readonly audience: FhirAudience;
}

/** Where a page starts: after this reading, in the store's order (device time, message id unsigned, seq). */
interface Cursor {
  readonly t: number;
  readonly id: bigint;
  readonly seq: number;
}
const cursorOf = (p: Point): string => `${p.deviceTime}.${BigInt.asUintN(64, p.messageId).toString(16)}.${p.seq}`;
function parseCursor(raw: string | undefined): Cursor | undefined {
  if (raw === undefined) return undefined;
  const m = /^(-?\d{1,16})\.([0-9a-f]{1,16})\.(\d{1,9})$/.exec(raw);
  if (!m) throw new HubError('VALIDATION_FAILED', `${PAGE} is not a page of this search`);
  return { t: Number(m[1]), id: BigInt(`0x${m[2]}`), seq: Number(m[3]) };
}
const after = (p: Point, c: Cursor): boolean => {
  if (p.deviceTime !== c.t) return p.deviceTime > c.t;
  const id = BigInt.asUintN(64, p.messageId);
  return id !== c.id ? id > c.id : p.seq > c.seq;
};

/**
 * GET /fhir/Observation: one Observation per reading, oldest first, under exactly the
 * rules of the dataset and device-data routes. The release filter is the consent rule
 * (kernel/consent.ts) for the caller's audience, read afresh on every request, so a
 * withdrawal shows on the very next page; every page is a release in the audit log.
 */
export const fhirObservationRoutes: FastifyPluginAsync<{ ctx: FhirContext }> = async (app, { ctx }) => {
  const { registry, store, profiles, clock } = ctx;

  /** The store query and any further test for the caller, or null when the search can match nothing. */
  async function releaseFor(request: FastifyRequest, q: SearchQuery): Promise<Release | null> {
    const principal = principalOf(request);
    const audience = await fhirAudience(registry, principal, ctx.pseudonym, ctx.settings.subjectSystem);
    const now = clock();
    let release: NonNullable<PointQuery['release']>;
    let deviceIds: readonly string[] | undefined;
    let keep: (p: Point) => boolean = () => true;
    if (principal.role === 'vendor') {
      release = (await deviceRelease(registry, principal, now))!;
      deviceIds = (await registry.listDevices({ vendorId: principal.vendorId })).map((d) => d.id);
    } else {
      const windows = (await Promise.all(audience.trials.map((t) => registry.consent.windows(t.id, audience.scope, now)))).flat();
      // Researchers get device data of the trials that give it (as datasets do); clinicians read about participants.
      const deviceDataTrials = new Set(audience.scope === 'research' ? audience.trials.filter((t) => t.researchDeviceData).map((t) => t.id) : []);
      release = { windows, includeDeviceData: deviceDataTrials.size > 0 };
      keep = (p) => p.participantId !== null || (p.trialId !== null && deviceDataTrials.has(p.trialId));
    }
    const subject = identifierParam(q, ['subject', 'patient']);
    if (subject) {
      const who = await audience.participant(subject);
      if (!who) return null;
      release = { windows: release.windows.filter((w) => w.participantId === who.participantId), includeDeviceData: false };
    }
    const device = q.device?.map((d) => d.replace(/^Device\//, ''));
    if (device) {
      const visible = deviceIds ?? (await registry.listDevices()).map((d) => d.id);
      deviceIds = visible.filter((id) => device.includes(id) || device.includes(fhirId(id)));
    }
    let names: string[] | undefined;
    if (q.code) {
      const wanted = tokens(q.code);
      const catalogue = profiles.catalogue.measurements;
      names = [...catalogue.values()]
        .filter((m) => observationCode(m.name, m).some((c) => wanted.some((w) => w.code === c.code && (w.system === undefined || w.system === c.system))))
        .map((m) => m.name);
    }
    if (names?.length === 0 || deviceIds?.length === 0 || (release.windows.length === 0 && !release.includeDeviceData)) return null;
    const { from, to } = dateBounds(q.date);
    return {
      // Only bounds that were asked for: a store's own time type may not reach JS's whole range (InfluxDB: ±292 years).
      query: {
        kind: 'reading',
        ...(Number.isFinite(from) ? { from } : {}),
        ...(Number.isFinite(to) ? { to } : {}),
        order: 'asc',
        release,
        ...(deviceIds ? { deviceIds } : {}),
        ...(names ? { names } : {}),
      },
      keep,
      audience,
    };
  }

  app.get('/Observation', {
    config: { access: ['clinician', 'researcher', 'vendor'], release: true },
    schema: HIDDEN,
    handler: async (request, reply) => {
      const q = searchQuery(request.query, PARAMS);
      const count = countOf(q);
      const cursor = parseCursor(single(q, PAGE));
      const updated = dateBounds(q[LAST_UPDATED]);
      const found = await releaseFor(request, q);
      const entries: Resource[] = [];
      let last: Point | undefined;
      let more = false;
      if (found) {
        const { query, keep, audience } = found;
        const from = cursor ? Math.max(query.from ?? cursor.t, cursor.t) : query.from;
        for await (const p of store.points({ ...query, ...(from !== undefined ? { from } : {}) })) {
          if (p.kind !== 'reading' || (cursor && !after(p, cursor)) || !keep(p) || p.receivedAt < updated.from || p.receivedAt >= updated.to) continue;
          if (entries.length === count) {
            more = true;
            break;
          }
          const subject = p.participantId === null ? null : audience.subject(p.trialId, p.participantId);
          entries.push(toObservation(p, profiles.catalogue.measurements.get(p.name), subject));
          last = p;
        }
      }
      noteForAudit(request, { rows: entries.length });
      const links = pageLinks(ctx.base(request), '/Observation', q, more && last ? cursorOf(last) : null);
      return reply.send(searchset(ctx.base(request), entries, links.self, links.next));
    },
  });
};
