/**
 * The one registry of error codes. Every error the hub reports carries one of these
 * codes; the API maps them to HTTP in one place (api/problem.ts), the domain never
 * speaks HTTP.
 */
export const ErrorCodes = {
  VALIDATION_FAILED: 'Request did not match the schema',
  UNAUTHENTICATED: 'Missing or invalid credentials',
  FORBIDDEN: 'Not allowed for this principal',
  NOT_FOUND: 'No such resource',
  CONFLICT: 'Resource already exists or is in the wrong state',
  CONSENT_MISSING: 'The participant has not consented to this release',
  RATE_LIMITED: 'Too many requests',
  TOO_MANY_STREAMS: 'Too many live streams open',
  TOO_MANY_EXPORTS: 'Too many exports running',
  EXPORT_TOO_LARGE: 'The export would exceed the temporary space allowed for exports',
  STORE_UNAVAILABLE: 'The store is not available',
  PROFILE_INVALID: 'A device profile is invalid',
  CONFIG_INVALID: 'The configuration is invalid',
  PUSH_QUEUE_FULL: 'The FHIR push queue is full; nothing more is queued until the endpoint takes what waits',
  INTERNAL: 'Internal error',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** One of several problems found at once in one input, and where (zod's issues: path and message). */
export interface ErrorIssue {
  readonly path: string;
  readonly message: string;
}

export class HubError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly issues: readonly ErrorIssue[] | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; issues?: readonly ErrorIssue[] }) {
    super(detail ?? ErrorCodes[code], options);
    this.name = 'HubError';
    this.code = code;
    this.detail = detail;
    this.issues = options?.issues;
  }
}

export const isHubError = (e: unknown): e is HubError => e instanceof HubError;
