import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { catalogueDocument } from '../../device-profiles/catalogue.js';
import type { Catalogue } from '../../kernel/measurements.js';
import { TOKEN_ROLES } from '../../kernel/principal.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';

const Labels = z.object({ en: z.string(), nb: z.string() });
const CatalogueDto = z.object({
  measurements: z.array(
    z.object({
      name: z.string(),
      unit: z.string().describe('UCUM unit every stored value is in'),
      type: z.enum(['number', 'integer', 'boolean']),
      range: z.array(z.number()).nullable().describe('Plausible values [low, high], in unit; a reading outside is rejected (VALUE_OUT_OF_RANGE)'),
      loinc: z.string().nullable(),
      snomed: z.string().nullable(),
      label: Labels,
    }),
  ),
  events: z.array(
    z.object({
      name: z.string(),
      label: Labels,
      alert: z.string().nullable().describe('VKP alert code (vkp-alert-code-v090) a profile inherits unless it names its own'),
      dispense: z.string().nullable().describe('VKP medication-dispense event code'),
      snomed: z.string().nullable(),
      severity: z.number().int().describe('Default VKP severity: 0, 10, 20, 30 or 40'),
      alarm: z.boolean().describe('Whether the event opens an alarm (with its alert code and severity) on the ward board'),
    }),
  ),
  families: z.array(z.object({ name: z.string(), label: Labels })),
  zones: z
    .array(z.object({ name: z.string(), label: Labels }))
    .describe("Places in a room devices report (an event's zone attribute), named for the ward board"),
});

/**
 * The catalogue of measurements, events, device families and zones the hub's profiles are
 * checked against: the shipped catalogue/*.yaml and the arena's own (ARENA_CATALOGUE_DIR).
 * Readable by every role, a paired ward board too: it is the vocabulary of profiles, and
 * the board's names for events, alarms and measurements.
 */
export const catalogueRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  // Built once per catalogue: a reload (SIGHUP, device-profiles/catalogue-reload.ts) is served from the next request.
  let served: { of: Catalogue; document: ReturnType<typeof catalogueDocument> } | undefined;
  const current = () => {
    const of = deps.profiles.catalogue;
    if (served?.of !== of) served = { of, document: catalogueDocument(of) };
    return served.document;
  };
  app.get('/v1/catalogue', {
    config: { access: TOKEN_ROLES },
    schema: {
      tags: ['profiles'],
      summary: 'The catalogue of measurements, events, device families and zones',
      description: 'Names a device profile may produce, with UCUM units, plausible ranges, LOINC/SNOMED CT and VKP codes, and labels in English and Norwegian.',
      response: { 200: CatalogueDto, ...problems(401) },
    },
    handler: async () => current(),
  });
};
