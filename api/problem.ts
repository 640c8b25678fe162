import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorCodes, type HubError, isHubError, type ErrorCode } from '../kernel/errors.js';

/**
 * The one place HubError codes become HTTP: RFC 9457 problem details
 * (application/problem+json). Routes throw HubError; they never pick a status.
 */
const STATUS: Partial<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CONSENT_MISSING: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // RFC 9110 §15.5.21: well-formed, but its content (a device profile) cannot be used.
  PROFILE_INVALID: 422,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  TOO_MANY_EXPORTS: 429,
  // RFC 9110 §15.5.14: the export, not the request, is too large; narrower filters fit.
  EXPORT_TOO_LARGE: 413,
  STORE_UNAVAILABLE: 503,
};

export const statusOf = (code: ErrorCode): number => STATUS[code] ?? 500;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const Issue = z.object({
  path: z.string().describe('Where: the request part and field, e.g. "body.vendorId" or "querystring.limit"'),
  message: z.string(),
});

export const Problem = z
  .object({
    type: z.string().describe('URI identifying the problem type; one per error code'),
    title: z.string().describe('Short summary of the problem type'),
    status: z.number().int().describe('The HTTP status code'),
    detail: z.string().describe('What went wrong in this occurrence'),
    code: z.enum(Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]]).describe('Stable error code (kernel/errors.ts)'),
    instance: z.string().describe('The request path this occurrence happened on'),
    requestId: z.string().describe('Correlates with the hub log'),
    issues: z
      .array(Issue)
      .optional()
      .describe('VALIDATION_FAILED: each field that did not match; PROFILE_INVALID: each problem of the profile, with its path in the profile'),
  })
  .describe('RFC 9457 problem details');
export type Problem = z.infer<typeof Problem>;

const STATUS_TEXT: Record<number, string> = {
  400: 'The request did not match the schema; `issues` names each field',
  401: 'No bearer token, or one that is unknown, expired or revoked',
  403: "The token's role may not use this route",
  404: 'No such resource (or not visible to this token)',
  409: 'Already exists',
  422: 'The device profile cannot be used; `issues` names each problem with its path',
  413: 'The export would exceed the temporary space allowed for exports; narrow it',
  429: 'Too many requests, streams or exports at once; retry after the Retry-After seconds',
  503: 'Not ready',
};

/** Problem responses for a route's OpenAPI description, by status. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: STATUS_TEXT[s] ?? 'Problem', content: { 'application/problem+json': { schema: Problem } } }]));

export function problemOf(request: FastifyRequest, code: ErrorCode, detail: string, issues?: Problem['issues']): Problem {
  return {
    type: `urn:arena-hub:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: ErrorCodes[code],
    status: statusOf(code),
    detail,
    code,
    instance: (request.url ?? '/').split('?')[0] ?? '/',
    requestId: String(request.id),
    ...(issues ? { issues } : {}),
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  // A string payload bypasses the route's response serializer, so a problem can never
  // fail serialisation and loop back into the error handler.
  return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** Framework statuses (bad JSON, wrong content type, body too large...) → a hub code. */
const CODE_OF_HTTP: Record<number, ErrorCode> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 429: 'RATE_LIMITED', 503: 'STORE_UNAVAILABLE' };

export function classify(error: FastifyError | HubError | Error, request: FastifyRequest): Problem {
  if (isHubError(error)) {
    // A 500's detail may carry internals (paths, driver messages): only the title goes out.
    const detail =
      statusOf(error.code) === 500 ? `${ErrorCodes[error.code]}; see the hub log for request ${request.id}` : (error.detail ?? ErrorCodes[error.code]);
    return problemOf(request, error.code, detail, error.issues && [...error.issues]);
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'request';
    const issues = error.validation.map((v) => ({
      path: [where, ...v.instancePath.split('/').filter(Boolean)].join('.'),
      message: v.message ?? 'invalid',
    }));
    return problemOf(request, 'VALIDATION_FAILED', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  if (isResponseSerializationError(error)) return problemOf(request, 'INTERNAL', `${ErrorCodes.INTERNAL}; see the hub log for request ${request.id}`);
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client-error messages are written for callers and carry no internals.
    return problemOf(request, CODE_OF_HTTP[status] ?? 'VALIDATION_FAILED', error.message);
  }
  return problemOf(request, 'INTERNAL', `${ErrorCodes.INTERNAL}; see the hub log for request ${request.id}`);
}

/** Error handler and not-found handler for the whole app; registered once at the root. */
export const problemHandling = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | HubError | Error, request, reply) => {
      const problem = classify(error, request);
      if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, 'request failed');
      else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
      return sendProblem(reply, problem);
    });
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, problemOf(request, 'NOT_FOUND', `no route ${request.method} ${(request.url ?? '').split('?')[0]}`)),
    );
  },
  { name: 'arena-problem-handling' },
);
