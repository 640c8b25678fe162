import type { ErrorCode } from '../kernel/errors.js';
import { HUB } from './systems.js';
import type { Bundle, BundleEntry, Resource } from './types.js';

/** A search result page (FHIR R4 §3.1.1.3.2): self and, while there are more, next. */
export function searchset(base: string, resources: readonly Resource[], self: string, next: string | null): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    link: [{ relation: 'self', url: self }, ...(next ? [{ relation: 'next', url: next }] : [])],
    entry: resources.map((r) => ({ fullUrl: `${base}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'match' } })),
  };
}

/**
 * A transaction (FHIR R4 §3.1.0.11.2) that a receiving server may apply more than once
 * without creating anything twice: each entry is a conditional update on the resource's
 * own identifier (§3.1.0.4.3), so a retried delivery updates what the first one created.
 */
export function transaction(resources: readonly Resource[]): Bundle {
  const entry: BundleEntry[] = resources.map((r) => {
    const id = (r.identifier as readonly { system: string; value: string }[] | undefined)?.[0];
    const url = id ? `${r.resourceType}?identifier=${encodeURIComponent(`${id.system}|${id.value}`)}` : r.resourceType;
    const { id: _own, ...resource } = r;
    return { fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: resource as Resource, request: { method: 'PUT', url } };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

// OperationOutcome.issue.code (IssueType) for the hub's error codes.
const ISSUE_TYPE: Partial<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: 'invalid',
  UNAUTHENTICATED: 'login',
  FORBIDDEN: 'forbidden',
  CONSENT_MISSING: 'forbidden',
  NOT_FOUND: 'not-found',
  RATE_LIMITED: 'throttled',
  TOO_MANY_STREAMS: 'throttled',
  TOO_MANY_EXPORTS: 'throttled',
  STORE_UNAVAILABLE: 'transient',
};

/** An error as FHIR clients read it (R4 §3.1.0.1.5): the stable code in details, the text in diagnostics. */
export function operationOutcome(code: ErrorCode, diagnostics: string): Resource {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: ISSUE_TYPE[code] ?? 'exception', details: { coding: [{ system: HUB.error, code }] }, diagnostics }],
  };
}
