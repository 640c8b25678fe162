import type { FastifyRequest } from 'fastify';
import type { ProfileSet } from '../../device-profiles/load.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Pseudonymiser } from '../../kernel/pseudonym.js';
import type { Registry } from '../../kernel/registry.js';
import type { FhirSettings } from '../config.js';

/** What every FHIR route uses: the ports, the pseudonyms, the arena's identifier system, and where the API is. */
export interface FhirContext {
  readonly registry: Registry;
  readonly store: TelemetryStore;
  readonly profiles: ProfileSet;
  readonly pseudonym: Pseudonymiser;
  readonly settings: FhirSettings;
  readonly clock: () => number;
  /** The FHIR base URL as the caller reached it (bundle fullUrls and paging links are absolute, §3.1.1.3.2). */
  base(request: FastifyRequest): string;
}

/**
 * FHIR routes describe themselves in their CapabilityStatement (GET /fhir/metadata) and
 * answer errors as OperationOutcomes, so they stay out of the OpenAPI document (/docs),
 * which describes the hub's own JSON API and its problem+json errors.
 */
export const HIDDEN = { hide: true } as const;
