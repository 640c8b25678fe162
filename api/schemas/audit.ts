import { z } from 'zod';
import type { AuditEntry, AuditVerdict } from '../../kernel/audit.js';
import { IsoTime, iso } from './common.js';
import { example } from './examples.js';

export const AuditQuery = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('Only entries with seq greater than this (page on with the last seq seen)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  action: z.string().min(1).max(200).optional().describe('Only this action, e.g. "GET /v1/trials/:id/dataset"'),
});

export const AuditEntryDto = z
  .object({
    seq: z.number().int(),
    at: z.number().int().describe('Epoch ms; hashed as is'),
    time: IsoTime.describe('`at` as ISO 8601, for reading; not part of the hash'),
    actor: z.object({ role: z.string(), tokenId: z.string().nullable() }),
    action: z.string().describe('Method and route'),
    target: z.string().describe('The request path'),
    detail: z.record(z.string(), z.unknown()).describe('Params, query, body (credentials redacted), rows released, export id...'),
    prevHash: z.string().describe('hash of the previous entry; 64 zeros for the first'),
    hash: z.string().describe('SHA-256 (hex) of the RFC 8785 canonical JSON of {seq, at, actor, action, target, detail, prevHash}'),
  })
  .meta(
    example({
      seq: 42,
      at: 1743501600000,
      time: '2025-04-01T10:00:00.000Z',
      actor: { role: 'researcher', tokenId: 'tok-4bq1s0Zk0cUuPz3B' },
      action: 'GET /v1/trials/:id/dataset',
      target: '/v1/trials/fall-2025/dataset',
      detail: { status: 200, params: { id: 'fall-2025' }, query: { format: 'csv' }, exportId: 'exp-3kF9pQ2xV7aLm1Rt', rows: 1234, sha256: 'c0ffee…' },
      prevHash: '9f2c…',
      hash: '51ab…',
    }),
  );

export const toAuditEntryDto = (e: AuditEntry): z.infer<typeof AuditEntryDto> => ({
  seq: e.seq,
  at: e.at,
  time: iso(e.at),
  actor: { ...e.actor },
  action: e.action,
  target: e.target,
  detail: { ...e.detail },
  prevHash: e.prevHash,
  hash: e.hash,
});

export const AuditVerdictDto = z
  .object({
    ok: z.boolean(),
    entries: z.number().int().describe('Entries verified (before the break, when broken)'),
    head: z.string().optional().describe('Hash of the newest entry: note it elsewhere to detect a later truncation'),
    brokenAt: z.number().int().optional().describe('seq of the first entry that does not verify'),
    reason: z.string().optional(),
  })
  .meta({
    example: { ok: true, entries: 42, head: '51ab…' },
    examples: [
      { ok: true, entries: 42, head: '51ab…' },
      { ok: false, entries: 6, brokenAt: 7, reason: 'hash does not match the entry: it was changed after it was written' },
    ],
  });

export const toVerdictDto = (v: AuditVerdict): z.infer<typeof AuditVerdictDto> => ({ ...v });
