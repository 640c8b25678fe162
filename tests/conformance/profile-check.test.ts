import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `arena-hub profile-check --samples`, as a vendor runs it from a shell (dist/hub/cli.js): no hub, no database.

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/hub/cli.js', ...args], { env: { PATH: process.env.PATH }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const dir = mkdtempSync(join(tmpdir(), 'arena-samples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, lines: string[]): string => {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
};

const AQUASCALE = 'device-profiles/profiles/aquascale/profile.yaml';
const weight = (unit: string, value = 72450) => ({ serial: 'AQ-1', measured_at: '2026-12-07T10:00:00Z', kind: 'weight', value, unit });
const envelope = (payload: unknown) => JSON.stringify({ topic: 'devices/AQ-1/measurements', receivedAt: '2026-12-07T10:00:05Z', payload });

describe('arena-hub profile-check --samples', () => {
  it('prints what the hub would store for good samples and exits 0', async () => {
    const samples = file('good.ndjson', [envelope(weight('g')), envelope({ ...weight('l', 0.2), kind: 'intake', source: 'drink' })]);
    const run = await cli(['profile-check', AQUASCALE, '--samples', samples, '--device-id', 'AQ-1']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('line 1: devices/AQ-1/measurements: stored (1 point)');
    expect(run.stdout).toContain('reading body_weight 72.45 kg at 2026-12-07T10:00:00.000Z');
    expect(run.stdout).toContain('reading fluid_intake 200 mL');
    expect(run.stdout).toContain('summary: 2 samples, 2 stored whole, 0 with rejections, 0 unreadable, 2 points');
  });

  it('names each rejection with its code and path, in text and as JSON, and exits 1', async () => {
    const samples = file('bad.ndjson', [
      envelope(weight('g')),
      envelope(weight('stone')),
      'not json at all',
      JSON.stringify({ topic: 'devices/OTHER/measurements', payload: weight('g') }),
      JSON.stringify({ payload: weight('g'), receivedAt: 'never' }),
    ]);
    const text = await cli(['profile-check', AQUASCALE, '--samples', samples, '--device-id', 'AQ-1']);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('line 2: devices/AQ-1/measurements: REJECTED (0 points)');
    expect(text.stdout).toContain('  UNIT_UNKNOWN unit: unit "stone" is not one this profile accepts for body_weight');
    expect(text.stdout).toMatch(/line 3: .*REJECTED[\s\S]*PAYLOAD_NOT_JSON \(payload\)/);
    expect(text.stdout).toContain('line 4: devices/OTHER/measurements: REJECTED');
    expect(text.stdout).toContain('line 5: not a sample: receivedAt must be ISO 8601 or epoch milliseconds');

    const json = await cli(['profile-check', AQUASCALE, '--samples', samples, '--device-id', 'AQ-1', '--json']);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout);
    expect(doc.profile).toMatchObject({ ok: true, id: 'aquascale', version: '1.0.0' });
    expect(doc.samples[0]).toMatchObject({
      line: 1,
      storedWhole: true,
      points: [{ kind: 'reading', name: 'body_weight', value: 72.45, unit: 'kg', profileVersion: '1.0.0' }],
    });
    expect(doc.samples[1]).toMatchObject({ line: 2, storedWhole: false, points: [], rejections: [{ code: 'UNIT_UNKNOWN', path: 'unit' }] });
    expect(doc.samples[3].rejections).toEqual([expect.objectContaining({ code: 'TOPIC_NOT_ALLOWED' })]);
    expect(doc.summary).toEqual({
      samples: 5,
      storedWhole: 1,
      withRejections: 3,
      unreadable: 1,
      points: 1,
      rejectionsByCode: { UNIT_UNKNOWN: 1, PAYLOAD_NOT_JSON: 1, TOPIC_NOT_ALLOWED: 1 },
    });
  });

  it('decodes a multi-record profile with its own catalogue: the good record stored, each bad one rejected at its path', async () => {
    const samples = file('urosense.ndjson', [
      JSON.stringify({
        deviceId: 'US-1',
        topic: 'devices/US-1/data',
        receivedAt: '2026-11-24T12:00:00Z',
        payload: {
          type: 'samples',
          dev: 'US-1',
          samples: [
            { t: 1795417200, vol: 1234 },
            { t: 'soon', vol: 1250 },
          ],
        },
      }),
    ]);
    const run = await cli([
      'profile-check',
      '--catalogue',
      'docs/examples/urosense/catalogue',
      'docs/examples/urosense/profile.yaml',
      '--samples',
      samples,
      '--json',
    ]);
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout);
    expect(doc.samples[0].points).toEqual([expect.objectContaining({ name: 'urine_bag_volume', value: 123.4, unit: 'mL' })]);
    expect(doc.samples[0].rejections).toEqual([expect.objectContaining({ code: 'SCHEMA_VIOLATION', path: 'samples[1].t' })]);
  });

  it('a profile that does not load fails before any sample, with every problem and its path', async () => {
    const samples = file('one.ndjson', [JSON.stringify(weight('g'))]);
    const run = await cli(['profile-check', 'docs/examples/urosense/profile.yaml', '--samples', samples, '--json']);
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout);
    expect(doc.profile.ok).toBe(false);
    expect(doc.profile.issues.length).toBeGreaterThan(0);
    expect(doc.profile.issues[0].path).not.toBe('');
  });

  it('--help says how samples are written; bad usage exits 2', async () => {
    const help = await cli(['profile-check', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--samples <file>');
    expect(help.stdout).toContain('"payload"');
    expect((await cli(['profile-check', AQUASCALE, AQUASCALE, '--samples', 'x.ndjson'])).code).toBe(2);
    expect((await cli(['profile-check', AQUASCALE, '--samples', join(dir, 'missing.ndjson')])).code).toBe(2);
  });
});
