import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog, Json, NewAuditEntry } from '../kernel/audit.js';

/**
 * The one place audit entries are written for the API. Every successful write request
 * (POST, PUT, PATCH, DELETE) is an administrative change and is appended without the
 * route doing anything; a data route declares `config: { release: true }` and reports
 * what it released with noteForAudit(); a read of personal records that are not
 * telemetry (alarm settings, consents) declares `config: { auditRead: true }`. Every
 * refusal by authentication or authorisation (401, 403, and 404 from a route that looked
 * the object up) is recorded with who, which route and why, never what was asked for
 * beyond the path. The entry is appended in onSend, before the response leaves: if the
 * log cannot be written, the caller gets a 500 and, for a data route, no data (fail closed).
 */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route that releases telemetry: each successful call is audited with its filters and row count. */
    release?: boolean;
    /** A read of personal records (alarm settings, consents): each successful call is audited, without the records. */
    auditRead?: boolean;
  }
  interface FastifyRequest {
    /** What the handler adds to this request's audit entry (row counts, export id...). */
    auditDetail: { [key: string]: Json } | null;
  }
}

export function noteForAudit(request: FastifyRequest, detail: { [key: string]: Json }): void {
  request.auditDetail = { ...(request.auditDetail ?? {}), ...detail };
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Statuses that are refusals by authentication or authorisation (api/auth.ts, and objects a caller may not see answer 404). */
const REFUSALS = new Set([401, 403, 404]);
/** Field names that may hold a credential; their values never reach the log. */
const SECRETISH = /secret|token|password|passphrase|key/i;
const MAX_BODY_CHARS = 8 * 1024;
/**
 * Routes whose bodies are about a participant's care (alarm settings: thresholds and target
 * weights; alarm actions: what a clinician wrote). The append-only log outlives an
 * erasure, so it keeps which fields were sent, never their values.
 */
const CARE_ROUTE = /^\/v1\/(alarm-settings|alarms)\//;
const MAX_RESPONSE_CHARS = 64 * 1024;

function redacted(value: unknown, depth = 0): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (depth > 5) return '[deep]';
  if (Array.isArray(value)) return value.map((v) => redacted(v, depth + 1));
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      out[k] = SECRETISH.test(k) ? '[redacted]' : redacted(v, depth + 1);
    }
    return out;
  }
  return String(value);
}

/** The id of what a create returned, e.g. {"id": "asg-..."} or {"device": {"id": ...}}; nothing else of the response. */
/** The dotted names of the fields a body sets, without their values. */
function fieldsOf(value: unknown, prefix = ''): Json[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return prefix ? [prefix] : [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => (v === undefined ? [] : fieldsOf(v, prefix ? `${prefix}.${k}` : k)));
}

function createdId(payload: unknown, contentType: unknown): string | null {
  if (typeof payload !== 'string' || payload.length > MAX_RESPONSE_CHARS || !String(contentType ?? '').includes('json')) return null;
  try {
    const body = JSON.parse(payload) as { id?: unknown; device?: { id?: unknown } };
    const id = body.id ?? body.device?.id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/**
 * The refusal's code (kernel/errors.ts) from the problem document, or from the
 * OperationOutcome of a FHIR route (issue.details); its detail may echo the request and is left out.
 */
function refusalCode(payload: unknown): string | null {
  if (typeof payload !== 'string' || payload.length > MAX_RESPONSE_CHARS) return null;
  try {
    const body = JSON.parse(payload) as { code?: unknown; issue?: { details?: { coding?: { code?: unknown }[] } }[] };
    const code = body.code ?? body.issue?.[0]?.details?.coding?.[0]?.code;
    return typeof code === 'string' ? code : null;
  } catch {
    return null;
  }
}

function refusal(request: FastifyRequest, status: number, payload: unknown): NewAuditEntry {
  const principal = request.principal;
  return {
    actor: principal ? { role: principal.role, tokenId: principal.tokenId } : { role: 'anonymous', tokenId: null },
    action: `${request.method} ${request.routeOptions.url ?? request.url}`,
    target: (request.url ?? '').split('?')[0] ?? '',
    detail: { refused: status, reason: refusalCode(payload) },
  };
}

export const auditTrail = fp(
  async (app: FastifyInstance, opts: { audit: AuditLog }) => {
    app.decorateRequest('auditDetail', null);
    app.addHook('onSend', async (request, reply, payload) => {
      // An unknown route is no object anyone was refused; there is nothing to record.
      if (request.is404) return payload;
      if (REFUSALS.has(reply.statusCode)) {
        await opts.audit.append(refusal(request, reply.statusCode, payload));
        return payload;
      }
      if (reply.statusCode >= 400) return payload;
      const config = request.routeOptions.config;
      const release = config.release === true || config.auditRead === true;
      if (!release && !WRITES.has(request.method)) return payload;
      const principal = request.principal;
      // Every write and data route requires a token (api/auth.ts); without one there is nothing to attribute.
      if (!principal) return payload;
      const detail: { [key: string]: Json } = { status: reply.statusCode, params: redacted(request.params ?? {}), query: redacted(request.query ?? {}) };
      if (!release) {
        if (CARE_ROUTE.test(request.routeOptions.url ?? '')) {
          detail.fields = fieldsOf(request.body);
        } else {
          const body = redacted(request.body ?? null);
          const text = JSON.stringify(body);
          detail.body = text.length <= MAX_BODY_CHARS ? body : { truncated: true, chars: text.length };
        }
        const id = createdId(payload, reply.getHeader('content-type'));
        if (id !== null) detail.created = id;
      }
      await opts.audit.append({
        actor: { role: principal.role, tokenId: principal.tokenId },
        action: `${request.method} ${request.routeOptions.url ?? request.url}`,
        target: (request.url ?? '').split('?')[0] ?? '',
        detail: { ...detail, ...(request.auditDetail ?? {}) },
      });
      return payload;
    });
  },
  { name: 'arena-audit-trail', dependencies: ['arena-auth'] },
);
