import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateAuditKey } from '../../audit/key.js';
import { GENESIS, auditHead, canonicalJson, entryHash, newAuditKey, verifyChain, type AuditEntry, type AuditHead } from '../../kernel/audit.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { buildWorld, type World } from '../consent/world.js';

const run = promisify(execFile);

const KEY = newAuditKey();
/** The head checkpoint an honest log would hold for these entries. */
const headOf = (entries: readonly AuditEntry[]): (() => AuditHead | undefined) => {
  const last = entries.at(-1);
  return () => last && auditHead(KEY, last.seq, last.hash);
};

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const e = {
      seq,
      at: 1000 + seq,
      actor: { role: 'admin' as const, tokenId: 'tok-1' },
      action: 'POST /v1/sites',
      target: `/v1/sites`,
      detail: { n: seq, nested: { b: 1, a: [1, 'x'] } },
      prevHash: prev,
    };
    const full = { ...e, hash: entryHash(KEY, e) };
    out.push(full);
    prev = full.hash;
  }
  return out;
}

describe('the hash chain', () => {
  it('hashes canonical JSON (RFC 8785): key order does not matter, values do', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'é' } })).toBe('{"a":{"c":"é","d":[2,1]},"b":1}');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(/non-finite/);
  });

  it('verifies an intact chain and reports its head', async () => {
    const entries = chain(3);
    expect(await verifyChain(KEY, entries, headOf(entries))).toEqual({ ok: true, entries: 3, head: entries[2]!.hash });
    expect(await verifyChain(KEY, [], () => undefined)).toEqual({ ok: true, entries: 0, head: GENESIS });
  });

  it('finds an edited, a removed and a reordered entry', async () => {
    const honest = headOf(chain(3));
    const edited = chain(3);
    edited[1] = { ...edited[1]!, detail: { n: 99 } };
    expect(await verifyChain(KEY, edited, honest)).toMatchObject({ ok: false, brokenAt: 2, entries: 1 });

    const rehashed = chain(3);
    const forged = { ...rehashed[1]!, detail: { n: 99 } };
    rehashed[1] = { ...forged, hash: entryHash(KEY, forged) }; // even with the key, rehashing one breaks the next link
    expect(await verifyChain(KEY, rehashed, honest)).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringMatching(/prevHash/) });

    const removed = chain(3);
    removed.splice(1, 1);
    expect(await verifyChain(KEY, removed, honest)).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringMatching(/missing/) });

    const swapped = chain(3);
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    expect(await verifyChain(KEY, swapped, honest)).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('finds the newest entries cut off, and a missing or forged head checkpoint', async () => {
    const entries = chain(5);
    expect(await verifyChain(KEY, entries.slice(0, 3), headOf(entries))).toMatchObject({
      ok: false,
      entries: 3,
      reason: expect.stringMatching(/newest entries were removed/),
    });
    expect(await verifyChain(KEY, entries, () => undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/checkpoint is missing/) });
    const forgedHead = { seq: 3, hash: entries[2]!.hash, mac: auditHead(newAuditKey(), 3, entries[2]!.hash).mac };
    expect(await verifyChain(KEY, entries.slice(0, 3), () => forgedHead)).toMatchObject({ ok: false, reason: expect.stringMatching(/does not verify/) });
  });

  it('a chain re-hashed without the key does not verify', async () => {
    // Whoever can write the table but has not the key: remove entry 2, re-chain the rest under another key.
    const other = newAuditKey();
    const rechained: AuditEntry[] = [];
    for (const e of chain(3).filter((x) => x.seq !== 2)) {
      const prev = rechained.at(-1);
      const unhashed = { ...e, seq: rechained.length + 1, prevHash: prev?.hash ?? GENESIS };
      rechained.push({ ...unhashed, hash: entryHash(other, unhashed) });
    }
    const theirHead = () => auditHead(other, 2, rechained[1]!.hash);
    expect(await verifyChain(KEY, rechained, theirHead)).toMatchObject({
      ok: false,
      brokenAt: 1,
      reason: expect.stringMatching(/changed after it was written/),
    });
  });
});

describe('the API appends one entry per administrative change and per data release', () => {
  let w: World;
  beforeAll(async () => {
    w = await buildWorld();
  });
  afterAll(async () => w?.dispose());

  const entries = async () => (await w.call('admin', '/v1/audit?limit=1000')).json().items as (AuditEntry & { time: string })[];

  it('records who changed what, without credentials', async () => {
    const log = await entries();
    const grant = log.find((e) => e.action === 'POST /v1/participants/:id/consents');
    expect(grant).toMatchObject({
      actor: { role: 'admin' },
      target: '/v1/participants/granted/consents',
      detail: { status: 201, body: { scope: 'research', formVersion: 'v1' } },
    });
    expect(grant!.detail.created).toMatch(/^con-/);
    expect(log.some((e) => e.action === 'POST /v1/consents/:id/withdraw')).toBe(true);
    expect(log.some((e) => e.action === 'DELETE /v1/participants/:id/data' && e.target === '/v1/participants/erased/data')).toBe(true);

    const issued = await w.call('admin', '/v1/tokens', { method: 'POST', payload: { role: 'vendor', vendorId: 'VA', label: 'ci' } });
    const last = (await entries()).at(-1)!;
    expect(last).toMatchObject({ action: 'POST /v1/tokens', detail: { created: issued.json().id } });
    const text = JSON.stringify(await entries());
    for (const token of [...Object.values(w.tokens), issued.json().token]) expect(text).not.toContain(token);
  });

  it('records each data release with its filters, row count and export id', async () => {
    const before = (await entries()).length;
    await w.call('vendorA', '/v1/devices/A1/readings?limit=5');
    const exported = await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson&kind=reading');
    const added = (await entries()).slice(before);
    expect(added).toHaveLength(2);
    expect(added[0]).toMatchObject({ action: 'GET /v1/devices/:id/readings', actor: { role: 'vendor' }, detail: { rows: 3, query: { limit: 5 } } });
    expect(added[1]).toMatchObject({
      action: 'GET /v1/trials/:id/dataset',
      actor: { role: 'researcher' },
      target: '/v1/trials/TA/dataset',
      detail: { exportId: exported.headers['x-export-id'], sha256: exported.headers['x-export-sha256'], rows: 2, format: 'ndjson', audience: 'research' },
    });
  });

  it('records each refusal (401, 403, 404) with who, the route and why, and nothing of what was asked', async () => {
    const before = (await entries()).length;
    expect((await w.call('vendorB', '/v1/devices/A1/readings?limit=7')).statusCode).toBe(404);
    expect((await w.call('clinician', '/v1/trials/TA/dataset')).statusCode).toBe(403);
    expect((await w.app.inject({ url: '/v1/alarm-settings/granted', headers: { authorization: 'Bearer not-a-token' } })).statusCode).toBe(401);
    expect((await w.call('clinicianS2', '/v1/alarm-settings/granted', { method: 'PUT', payload: { siteId: 'S2', paused: true } })).statusCode).toBe(404);
    expect((await w.app.inject({ url: '/no/such/route' })).statusCode).toBe(404); // no route: nothing was refused
    const added = (await entries()).slice(before);
    expect(added.map((e) => [e.actor.role, e.action, e.target, e.detail])).toEqual([
      ['vendor', 'GET /v1/devices/:id/readings', '/v1/devices/A1/readings', { refused: 404, reason: 'NOT_FOUND' }],
      ['clinician', 'GET /v1/trials/:id/dataset', '/v1/trials/TA/dataset', { refused: 403, reason: 'FORBIDDEN' }],
      ['anonymous', 'GET /v1/alarm-settings/:participantId', '/v1/alarm-settings/granted', { refused: 401, reason: 'UNAUTHENTICATED' }],
      ['clinician', 'PUT /v1/alarm-settings/:participantId', '/v1/alarm-settings/granted', { refused: 404, reason: 'NOT_FOUND' }],
    ]);
    expect(JSON.stringify(added)).not.toContain('not-a-token');
    expect(JSON.stringify(added)).not.toContain('paused');
  });

  it('records reads of alarm settings and consent records, without the records', async () => {
    const before = (await entries()).length;
    expect((await w.call('clinician', '/v1/alarm-settings/granted')).statusCode).toBe(200);
    expect((await w.call('clinician', '/v1/alarm-settings')).statusCode).toBe(200);
    expect((await w.call('admin', '/v1/participants/granted/consents')).statusCode).toBe(200);
    expect((await w.call('admin', '/v1/participants/granted')).statusCode).toBe(200);
    const added = (await entries()).slice(before);
    expect(added.map((e) => [e.actor.role, e.action, e.target])).toEqual([
      ['clinician', 'GET /v1/alarm-settings/:participantId', '/v1/alarm-settings/granted'],
      ['clinician', 'GET /v1/alarm-settings', '/v1/alarm-settings'],
      ['admin', 'GET /v1/participants/:id/consents', '/v1/participants/granted/consents'],
      ['admin', 'GET /v1/participants/:id', '/v1/participants/granted'],
    ]);
    const text = JSON.stringify(added);
    for (const field of ['grantedAt', 'formVersion', 'bedExit', 'paused', 'scope']) expect(text).not.toContain(field);
  });

  it('verifies, and the entries carry their chain', async () => {
    const log = await entries();
    expect(log[0]!.prevHash).toBe(GENESIS);
    for (let i = 1; i < log.length; i++) expect(log[i]!.prevHash).toBe(log[i - 1]!.hash);
    expect((await w.call('admin', '/v1/audit/verify')).json()).toEqual({ ok: true, entries: log.length, head: log.at(-1)!.hash });
    expect((await w.call('researcherA', '/v1/audit')).statusCode).toBe(403);
    expect((await w.call('vendorA', '/v1/audit/verify')).statusCode).toBe(403);
  });
});

describe('tampering is detected, online and by the offline command', () => {
  const root = mkdtempSync(join(tmpdir(), 'audit-tamper-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;

  /** A data folder with an audit log of five entries, keyed by the folder's audit.key as the hub keeps it. */
  async function seeded(): Promise<string> {
    const dir = join(root, `d${++n}`);
    mkdirSync(dir);
    const reg = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), {
      profiles: contractProfiles(),
      auditKey: loadOrCreateAuditKey(join(dir, 'audit.key')),
    });
    for (let i = 0; i < 5; i++)
      await reg.audit.append({ actor: { role: 'admin', tokenId: 'tok-1' }, action: 'POST /v1/sites', target: `/v1/sites/s-${i}`, detail: { i } });
    expect(await reg.audit.verify()).toMatchObject({ ok: true, entries: 5 });
    await reg.close();
    return dir;
  }

  /** Changes the database directly, as someone with write access to it (but not to the key file) could. */
  async function tamper(dir: string, change: (sql: SqlClient) => Promise<void>): Promise<void> {
    const sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    try {
      await change(sql);
    } finally {
      await sql.close();
    }
  }

  /** Both verifiers' verdicts: the registry's verify() (what GET /v1/audit/verify answers) and the command's. */
  async function verdicts(dir: string): Promise<{ online: unknown; code: number; stdout: string }> {
    const reg = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), {
      profiles: contractProfiles(),
      auditKey: loadOrCreateAuditKey(join(dir, 'audit.key')),
    });
    const online = await reg.audit.verify();
    await reg.close();
    const cli = await run('node', ['dist/audit/verify.js', '--data', dir]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    return { online, ...cli };
  }

  it('an intact log: OK from both', async () => {
    const v = await verdicts(await seeded());
    expect(v.online).toMatchObject({ ok: true, entries: 5 });
    expect(v).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK 5 entries, head [0-9a-f]{64}/) });
  });

  it('an edited entry', async () => {
    const dir = await seeded();
    await tamper(dir, (sql) => sql.query(`UPDATE audit_log SET detail = '{"i":42}' WHERE seq = 3`).then(() => undefined));
    const v = await verdicts(dir);
    expect(v.online).toMatchObject({ ok: false, brokenAt: 3, entries: 2 });
    expect(v).toMatchObject({ code: 1, stdout: expect.stringMatching(/^BROKEN at entry 3: hash does not match/) });
  });

  it('the newest entries deleted', async () => {
    const dir = await seeded();
    await tamper(dir, (sql) => sql.query('DELETE FROM audit_log WHERE seq > 3').then(() => undefined));
    const v = await verdicts(dir);
    expect(v.online).toMatchObject({ ok: false, entries: 3, reason: expect.stringMatching(/newest entries were removed/) });
    expect(v).toMatchObject({ code: 1, stdout: expect.stringMatching(/^BROKEN at entry 4: the chain ends at entry 3/) });
  });

  it('one entry removed and every later one re-chained, head checkpoint included, without the key', async () => {
    const dir = await seeded();
    const guess = newAuditKey();
    await tamper(dir, async (sql) => {
      const rows = await sql.query<{ seq: number; at_ms: number; action: string; target: string; detail: string }>(
        'SELECT seq, at_ms, action, target, detail FROM audit_log WHERE seq <> 2 ORDER BY seq',
      );
      await sql.query('DELETE FROM audit_log');
      let prevHash = GENESIS;
      for (const [i, r] of rows.entries()) {
        const e = {
          seq: i + 1,
          at: Number(r.at_ms),
          actor: { role: 'admin' as const, tokenId: 'tok-1' },
          action: r.action,
          target: r.target,
          detail: JSON.parse(r.detail) as { i: number },
          prevHash,
        };
        const hash = entryHash(guess, e);
        await sql.query(
          'INSERT INTO audit_log (seq, at_ms, actor_role, actor_token, action, target, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [e.seq, e.at, 'admin', 'tok-1', e.action, e.target, r.detail, prevHash, hash],
        );
        prevHash = hash;
      }
      const head = auditHead(guess, rows.length, prevHash);
      await sql.query('UPDATE audit_head SET seq = $1, hash = $2, mac = $3', [head.seq, head.hash, head.mac]);
    });
    const v = await verdicts(dir);
    expect(v.online).toMatchObject({ ok: false, brokenAt: 1 });
    expect(v).toMatchObject({ code: 1, stdout: expect.stringMatching(/^BROKEN at entry 1/) });
  });

  it('the head checkpoint deleted', async () => {
    const dir = await seeded();
    await tamper(dir, (sql) => sql.query('DELETE FROM audit_head').then(() => undefined));
    const v = await verdicts(dir);
    expect(v.online).toMatchObject({ ok: false, reason: expect.stringMatching(/checkpoint is missing/) });
    expect(v.code).toBe(1);
  });

  it('appends made together are written in order as one chain, and verify', async () => {
    const dir = await seeded();
    const reg = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), {
      profiles: contractProfiles(),
      auditKey: loadOrCreateAuditKey(join(dir, 'audit.key')),
    });
    try {
      const written = await Promise.all(
        Array.from({ length: 40 }, (_, i) => reg.audit.append({ actor: { role: 'system', tokenId: null }, action: 'burst', target: `/b/${i}`, detail: { i } })),
      );
      expect(written.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => 6 + i));
      expect(written.map((e) => e.target)).toEqual(Array.from({ length: 40 }, (_, i) => `/b/${i}`));
      expect(await reg.audit.verify()).toMatchObject({ ok: true, entries: 45, head: written.at(-1)!.hash });
    } finally {
      await reg.close();
    }
  });

  it('the command explains a missing data folder or key', async () => {
    const failure = (args: string[]) =>
      run('node', ['dist/audit/verify.js', ...args]).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
    const missing = await failure(['--data', join(root, 'nope')]);
    expect(missing?.code).toBe(2);
    expect(missing?.stderr).toMatch(/does not exist/);
    const dir = await seeded();
    const noKey = await failure(['--data', dir, '--key-file', join(root, 'no.key')]);
    expect(noKey?.code).toBe(2);
    expect(noKey?.stderr).toMatch(/cannot read the audit key/);
  });
});
