import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS, canonicalJson, entryHash, verifyChain, type AuditEntry } from '../../kernel/audit.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { buildWorld, type World } from '../consent/world.js';

const run = promisify(execFile);

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prev = GENESIS;
  for (let seq = 1; seq <= n; seq++) {
    const e = { seq, at: 1000 + seq, actor: { role: 'admin' as const, tokenId: 'tok-1' }, action: 'POST /v1/sites', target: `/v1/sites`, detail: { n: seq, nested: { b: 1, a: [1, 'x'] } }, prevHash: prev };
    const full = { ...e, hash: entryHash(e) };
    out.push(full);
    prev = full.hash;
  }
  return out;
}

describe('the hash chain', () => {
  it('hashes canonical JSON (RFC 8785): key order does not matter, values do', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'é' } })).toBe('{"a":{"c":"é","d":[2,1]},"b":1}');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow();
  });

  it('verifies an intact chain and reports its head', async () => {
    const entries = chain(3);
    expect(await verifyChain(entries)).toEqual({ ok: true, entries: 3, head: entries[2]!.hash });
    expect(await verifyChain([])).toEqual({ ok: true, entries: 0, head: GENESIS });
  });

  it('finds an edited, a removed and a reordered entry', async () => {
    const edited = chain(3);
    edited[1] = { ...edited[1]!, detail: { n: 99 } };
    expect(await verifyChain(edited)).toMatchObject({ ok: false, brokenAt: 2, entries: 1 });

    const rehashed = chain(3);
    const forged = { ...rehashed[1]!, detail: { n: 99 } };
    rehashed[1] = { ...forged, hash: entryHash(forged) }; // a forger who rehashes breaks the next link
    expect(await verifyChain(rehashed)).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringMatching(/prevHash/) });

    const removed = chain(3);
    removed.splice(1, 1);
    expect(await verifyChain(removed)).toMatchObject({ ok: false, brokenAt: 3, reason: expect.stringMatching(/missing/) });

    const swapped = chain(3);
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    expect(await verifyChain(swapped)).toMatchObject({ ok: false, brokenAt: 2 });
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
    expect(grant).toMatchObject({ actor: { role: 'admin' }, target: '/v1/participants/granted/consents', detail: { status: 201, body: { scope: 'research', formVersion: 'v1' } } });
    expect(grant!.detail.created).toMatch(/^con-/);
    expect(log.some((e) => e.action === 'POST /v1/consents/:id/withdraw')).toBe(true);
    expect(log.some((e) => e.action === 'DELETE /v1/participants/:id/data' && e.target === '/v1/participants/erased/data')).toBe(true);

    const issued = await w.call('admin', '/v1/tokens', { method: 'POST', payload: { role: 'vendor', vendorId: 'VA', label: 'ci' } });
    const last = (await entries()).at(-1)!;
    expect(last).toMatchObject({ action: 'POST /v1/tokens', detail: { created: issued.json().id } });
    const text = JSON.stringify(await entries());
    for (const token of [...Object.values(w.tokens), issued.json().token]) expect(text).not.toContain(token);
  });

  it('records each data release with its filters, row count and export id; a refused request records nothing', async () => {
    const before = (await entries()).length;
    await w.call('vendorA', '/v1/devices/A1/readings?limit=5');
    const exported = await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson&kind=reading');
    await w.call('vendorB', '/v1/devices/A1/readings'); // 404
    await w.call('clinician', '/v1/trials/TA/dataset'); // 403
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
  const dir = mkdtempSync(join(tmpdir(), 'audit-tamper-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let sql: SqlClient;

  it('the verify command prints OK for an intact log', async () => {
    sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    const reg = await openSqlRegistry(sql, { profiles: contractProfiles() });
    for (let i = 0; i < 5; i++) await reg.audit.append({ actor: { role: 'admin', tokenId: 'tok-1' }, action: 'POST /v1/sites', target: `/v1/sites/s-${i}`, detail: { i } });
    expect(await reg.audit.verify()).toMatchObject({ ok: true, entries: 5 });
    await reg.close();
    const { stdout } = await run('node', ['dist/audit/verify.js', '--data', dir]);
    expect(stdout).toMatch(/^OK 5 entries, head [0-9a-f]{64}/);
  });

  it('an edited entry is named by verify() and by the command, which exits 1', async () => {
    sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    const reg = await openSqlRegistry(sql, { profiles: contractProfiles() });
    await sql.query(`UPDATE audit_log SET detail = '{"i":42}' WHERE seq = 3`);
    expect(await reg.audit.verify()).toMatchObject({ ok: false, brokenAt: 3, entries: 2 });
    await reg.close();
    const failed = await run('node', ['dist/audit/verify.js', '--data', dir]).then(
      () => undefined,
      (e: { code: number; stdout: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toMatch(/^BROKEN at entry 3: hash does not match/);
  });

  it('the command explains a missing data folder', async () => {
    const e = await run('node', ['dist/audit/verify.js', '--data', join(dir, 'nope')]).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(e?.code).toBe(2);
    expect(e?.stderr).toMatch(/does not exist/);
  });
});
