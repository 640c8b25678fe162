import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';

// A second hub started as an operator would (node dist/hub/main.js) beside a running one:
// it stops at once with a sentence that names what is in the way.

let hub: TestHub;
let spare: string;
beforeAll(async () => {
  hub = await startTestHub();
  spare = mkdtempSync(join(tmpdir(), 'arena-second-'));
});
afterAll(async () => {
  await hub?.dispose();
  rmSync(spare, { recursive: true, force: true });
});

function secondHub(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['dist/hub/main.js'],
      { env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', MQTT_PORT: '0', MQTT_WS_PORT: '0', API_PORT: '0', ...env }, timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

describe('a second hub', () => {
  it('refuses the data folder another hub holds, naming the folder and the process', async () => {
    const { code, stderr } = await secondHub({ ARENA_DATA_DIR: hub.dataDir });
    expect(code).toBe(1);
    expect(stderr).toContain(
      `another hub (process ${process.pid}) holds the data folder ${hub.dataDir}: stop it first, or give this one another ARENA_DATA_DIR`,
    );
  });

  it('reports every bad variable at once, one line each, with the accepted values', async () => {
    const { code, stderr } = await secondHub({
      ARENA_DATA_DIR: spare,
      LOG_LEVEL: 'loud',
      MQTT_PORT: '0x10',
      API_PORT: '99999',
      MQTT_PLAIN: 'maybe',
      ALARM_TICK_S: 'abc',
    });
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toBe('arena-hub: invalid configuration:');
    expect(
      lines
        .slice(1)
        .map((l) => l.trim().split(':')[0])
        .sort(),
    ).toEqual(['ALARM_TICK_S', 'API_PORT', 'LOG_LEVEL', 'MQTT_PLAIN', 'MQTT_PORT']);
    expect(stderr).toContain('LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent');
    expect(stderr).toContain('MQTT_PLAIN: must be on or off');
  });

  it('names the variable of a port already in use', async () => {
    const { code, stderr } = await secondHub({ ARENA_DATA_DIR: spare, MQTT_PORT: String(hub.mqttPort) });
    expect(code).toBe(1);
    expect(stderr).toContain(`port ${hub.mqttPort} (MQTT_PORT) is in use by another program: stop it or set MQTT_PORT to a free port`);
  });
});
