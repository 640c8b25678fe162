import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { contractProfiles } from '../contract/registry.contract.js';

const H = 3_600_000;
const T = Date.parse('2025-03-01T00:00:00Z');
let dir: string;
let reg: Registry & TokenRegistry;
const open = async () => openSqlRegistry(await openDuckDbSqlClient(join(dir, 'r.duckdb')), { profiles: contractProfiles() });

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trial-registry-'));
  reg = await open();
  await reg.createSite({ id: 'S', name: 'Ward', kind: 'patient-room' });
  await reg.createSite({ id: 'S2', name: 'Flat', kind: 'demo-flat' });
  await reg.createRoom({ id: 'R', siteId: 'S', name: 'Room', beds: 2 });
  await reg.createRoom({ id: 'R2', siteId: 'S', name: 'Room 2', beds: 1 });
  await reg.createRoom({ id: 'X', siteId: 'S2', name: 'Elsewhere', beds: 1 });
  await reg.createVendor({ id: 'VA', name: 'A' });
  await reg.createVendor({ id: 'VB', name: 'B' });
  for (const id of ['D1', 'D2']) await reg.createDevice({ id, vendorId: 'VA', profileId: 'aquascale', roomId: 'R' });
  await reg.createDevice({ id: 'DB', vendorId: 'VB', profileId: 'bedwatch-senml', roomId: 'R' });
  await reg.createTrial({ id: 'T', name: 'Trial', siteId: 'S', vendorIds: ['VA'], protocolRef: 'REK 1', period: { from: T, to: T + 100 * H } });
  for (const id of ['P1', 'P2']) await reg.enrolParticipant({ id, trialId: 'T' });
});
afterEach(async () => {
  await reg.close();
  rmSync(dir, { recursive: true, force: true });
});

const code = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );

describe('trials', () => {
  it('check site, vendors, period and baseline', async () => {
    const base = { id: 'T2', name: 'x', siteId: 'S', vendorIds: ['VA'], protocolRef: 'REK', period: { from: T, to: T + H } };
    expect(await code(reg.createTrial({ ...base, siteId: 'nope' }))).toBe('VALIDATION_FAILED');
    expect(await code(reg.createTrial({ ...base, vendorIds: ['nope'] }))).toBe('VALIDATION_FAILED');
    expect(await code(reg.createTrial({ ...base, period: { from: T, to: T } }))).toBe('VALIDATION_FAILED');
    expect(await code(reg.createTrial({ ...base, baseline: { from: T - H, to: T } }))).toBe('VALIDATION_FAILED');
    expect(await code(reg.createTrial({ ...base, id: 'T' }))).toBe('CONFLICT');
  });

  it('move forward one status at a time, and close enrolment when completed', async () => {
    expect(await code(reg.setTrialStatus('T', 'completed'))).toBe('CONFLICT');
    expect((await reg.setTrialStatus('T', 'running')).status).toBe('running');
    expect((await reg.setTrialStatus('T', 'completed')).status).toBe('completed');
    expect(await code(reg.setTrialStatus('T', 'running'))).toBe('CONFLICT');
    expect(await code(reg.enrolParticipant({ id: 'P3', trialId: 'T' }))).toBe('CONFLICT');
    expect(await code(reg.grantConsent({ participantId: 'P1', scope: 'research', grantedAt: T, formVersion: 'v1' }))).toBe('CONFLICT');
    expect((await reg.setTrialStatus('T', 'archived')).status).toBe('archived');
  });
});

describe('assignments', () => {
  const a = (deviceId: string, participantId: string, from: number, to: number | null, roomId: string | null = 'R', bed: number | null = 1) =>
    reg.createAssignment({ trialId: 'T', deviceId, participantId, roomId, bed, from, to });

  it('refuse overlaps that make no sense and allow those that do', async () => {
    await a('D1', 'P1', T, T + 10 * H);
    expect(await code(a('D1', 'P2', T + 5 * H, null, 'R', 2))).toBe('CONFLICT'); // one device, two people
    expect(await code(a('D2', 'P2', T + 5 * H, T + 6 * H))).toBe('CONFLICT'); // one bed, two people
    expect(await code(a('D2', 'P1', T + 5 * H, T + 6 * H, 'R2', 1))).toBe('CONFLICT'); // one person, two rooms
    await a('D2', 'P1', T + 5 * H, T + 6 * H); // one person, two devices, same bed
    await a('D1', 'P2', T + 10 * H, T + 20 * H); // back to back on one device
    await a('D2', 'P2', T + 20 * H, null, 'R', 2);
  });

  it('stay inside the trial, its site and its vendors', async () => {
    expect(await code(a('D1', 'P1', T - H, T + H))).toBe('VALIDATION_FAILED');
    expect(await code(a('D1', 'P1', T, T + 200 * H))).toBe('VALIDATION_FAILED');
    expect(await code(a('DB', 'P1', T, T + H))).toBe('VALIDATION_FAILED'); // VB is not in the trial
    expect(await code(a('D1', 'P1', T, T + H, 'X', null))).toBe('VALIDATION_FAILED'); // room at another site
    expect(await code(a('D1', 'P1', T, T + H, 'R', 3))).toBe('VALIDATION_FAILED'); // no bed 3
    expect(await code(a('D1', 'nope', T, T + H))).toBe('VALIDATION_FAILED');
  });

  it('drive attribution from memory, before and after reopening', async () => {
    const first = await a('D1', 'P1', T + H, null);
    expect(reg.directory.attribution('D1', T + 2 * H)).toEqual({ siteId: 'S', roomId: 'R', trialId: 'T', participantId: 'P1' });
    // Before the assignment: device data of the trial (the device's vendor is in it, at its site).
    expect(reg.directory.attribution('D1', T + 1)).toEqual({ siteId: 'S', roomId: 'R', trialId: 'T', participantId: null });
    expect(reg.directory.attribution('D1', T + 100 * H)).toEqual({ siteId: 'S', roomId: 'R', trialId: null, participantId: null });
    expect(reg.directory.attribution('DB', T + 2 * H)).toEqual({ siteId: 'S', roomId: 'R', trialId: null, participantId: null });
    await reg.endAssignment(first.id, T + 3 * H);
    expect(reg.directory.attribution('D1', T + 3 * H).participantId).toBeNull();
    await reg.close();
    reg = await open();
    expect(reg.directory.attribution('D1', T + 2 * H).participantId).toBe('P1');
    expect(reg.directory.attribution('D1', T + 3 * H).participantId).toBeNull();
  });

  it('end at erasure: nothing later is attributed to an erased participant', async () => {
    await a('D1', 'P1', T, null);
    await a('D2', 'P1', T + 50 * H, null); // not started yet at erasure
    await reg.markErased('P1', T + 10 * H);
    expect(reg.directory.attribution('D1', T + 11 * H).participantId).toBeNull();
    expect(reg.directory.attribution('D2', T + 60 * H).participantId).toBeNull();
    expect(reg.directory.attribution('D1', T + 9 * H).participantId).toBe('P1');
    expect(await code(a('D1', 'P1', T + 20 * H, null))).toBe('CONFLICT');
  });

  it('are ambiguous (device data of no trial) when two trials claim the same device', async () => {
    await reg.createTrial({ id: 'T2', name: 'Other', siteId: 'S', vendorIds: ['VA'], protocolRef: 'REK 2', period: { from: T + 50 * H, to: T + 200 * H } });
    expect(reg.directory.attribution('D1', T + 10 * H).trialId).toBe('T');
    expect(reg.directory.attribution('D1', T + 60 * H).trialId).toBeNull();
    expect(reg.directory.attribution('D1', T + 150 * H).trialId).toBe('T2');
  });
});

describe('consents', () => {
  it('refuse a grant or withdrawal in the future; a second withdrawal keeps the first', async () => {
    expect(await code(reg.grantConsent({ participantId: 'P1', scope: 'research', grantedAt: Date.now() + H, formVersion: 'v1' }))).toBe('VALIDATION_FAILED');
    expect(await code(reg.grantConsent({ participantId: 'P1', scope: 'everything' as 'research', grantedAt: T, formVersion: 'v1' }))).toBe('VALIDATION_FAILED');
    const c = await reg.grantConsent({ participantId: 'P1', scope: 'research', grantedAt: T, formVersion: 'v1' });
    expect(await code(reg.withdrawConsent(c.id, Date.now() + H))).toBe('VALIDATION_FAILED');
    const w = await reg.withdrawConsent(c.id, T + H);
    expect((await reg.withdrawConsent(c.id, T + 2 * H)).withdrawnAt).toBe(w.withdrawnAt);
    expect(await reg.consent.allows('P1', 'research', T + 10, Date.now())).toBe(false);
  });

  it('answer allows() from the records, failing closed for the unknown', async () => {
    await reg.grantConsent({ participantId: 'P2', scope: 'vendor.telemetry', grantedAt: T + H, formVersion: 'v1' });
    expect(await reg.consent.allows('P2', 'vendor.telemetry', T + 2 * H, Date.now())).toBe(true);
    expect(await reg.consent.allows('P2', 'vendor.telemetry', T, Date.now())).toBe(false);
    expect(await reg.consent.allows('P2', 'research', T + 2 * H, Date.now())).toBe(false);
    expect(await reg.consent.allows('nobody', 'research', T + 2 * H, Date.now())).toBe(false);
    expect(await reg.consent.windows('nope', 'research', Date.now())).toEqual([]);
  });
});
