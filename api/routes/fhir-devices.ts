import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import type { Device } from '../../kernel/registry.js';
import { searchset } from '../../fhir/bundle.js';
import { SEARCH_PARAMS } from '../../fhir/capability.js';
import { type DeviceModel, toDevice } from '../../fhir/device.js';
import { HUB, fhirId } from '../../fhir/systems.js';
import { principalOf } from '../auth.js';
import { type FhirContext, HIDDEN } from './fhir-context.js';
import { PAGE, offsetPage, pageLinks, searchQuery, tokens } from './fhir-search.js';

const PARAMS = [...SEARCH_PARAMS.Device!.map(([name]) => name), PAGE];
const access = ['admin', 'clinician', 'researcher', 'vendor'] as const;

/**
 * Registered devices as FHIR Devices. Which a caller sees follows its binding as
 * everywhere else: arena staff every device, a vendor its own, a clinician those of its
 * sites, a researcher those of its trials' vendors. A device outside that answers 404
 * exactly like a missing one. A Device holds no participant data.
 */
export const fhirDeviceRoutes: FastifyPluginAsync<{ ctx: FhirContext }> = async (app, { ctx }) => {
  const { registry, profiles } = ctx;

  async function visibleDevices(p: Principal): Promise<Device[]> {
    if (p.role === 'admin') return registry.listDevices();
    if (p.role === 'vendor') return registry.listDevices({ vendorId: p.vendorId });
    if (p.role === 'clinician') return (await Promise.all(p.siteIds.map((siteId) => registry.listDevices({ siteId })))).flat();
    if (p.role === 'researcher') {
      const trials = (await Promise.all(p.trialIds.map((id) => registry.getTrial(id)))).filter((t) => t !== undefined);
      const vendors = new Set(trials.flatMap((t) => t.vendorIds));
      return (await Promise.all([...vendors].map((vendorId) => registry.listDevices({ vendorId })))).flat();
    }
    return [];
  }

  const modelOf = (d: Device): DeviceModel | undefined => {
    const p = profiles.get(d.profileId)?.profile;
    return (
      p && {
        profileId: d.profileId,
        version: p.version,
        vendor: p.vendor,
        model: p.model,
        family: p.family,
        familyLabel: profiles.catalogue.families.get(p.family)?.label.en,
      }
    );
  };

  app.get('/Device', {
    config: { access },
    schema: HIDDEN,
    handler: async (request, reply) => {
      const q = searchQuery(request.query, PARAMS);
      const wanted = tokens(q.identifier);
      const devices = (await visibleDevices(principalOf(request)))
        .filter((d) => wanted.length === 0 || wanted.some((w) => w.code === d.id && (w.system === undefined || w.system === HUB.device)))
        .sort((a, b) => a.id.localeCompare(b.id));
      const { page, next } = offsetPage(devices, q);
      const links = pageLinks(ctx.base(request), '/Device', q, next);
      return reply.send(
        searchset(
          ctx.base(request),
          page.map((d) => toDevice(d, modelOf(d))),
          links.self,
          links.next,
        ),
      );
    },
  });

  app.get<{ Params: { id: string } }>('/Device/:id', {
    config: { access },
    schema: HIDDEN,
    handler: async (request, reply) => {
      const device = (await visibleDevices(principalOf(request))).find((d) => fhirId(d.id) === request.params.id);
      if (!device) throw new HubError('NOT_FOUND', `no Device "${request.params.id}"`);
      return reply.send(toDevice(device, modelOf(device)));
    },
  });
};
