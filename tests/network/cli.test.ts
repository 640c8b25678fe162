import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The operator's one command (package.json bin: arena-hub → dist/hub/cli.js), as run from a shell.

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/hub/cli.js', ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

const COMMANDS = ['start', 'demo', 'profile-check', 'simulate', 'backup', 'restore', 'audit-verify', 'requeue', 'bench', 'soak'];

describe('arena-hub', () => {
  it('profile-check loads a good profile, and names every problem of a bad one with its path', async () => {
    const good = await cli(['profile-check', '--catalogue', 'docs/examples/urosense/catalogue', 'docs/examples/urosense/profile.yaml']);
    expect(good).toMatchObject({ code: 0, stdout: 'docs/examples/urosense/profile.yaml: urosense 1.0.0 loads\n' });
    // Without its catalogue file, the example's new measurement and event are unknown.
    const bad = await cli(['profile-check', 'docs/examples/urosense/profile.yaml']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^docs\/examples\/urosense\/profile\.yaml: shapes\[0\]\.readings\[0\]\.measurement: .*urine_bag_volume/m);
    expect(bad.stderr).toContain('urine_bag_full');
  });

  it('lists its commands, and refuses one it does not have', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('arena-hub: no command "frobnicate"');
  });

  it('answers --help on every command with its usage, and runs nothing', { timeout: 120_000 }, async () => {
    for (const c of COMMANDS) {
      const r = await cli([c, '--help']);
      expect({ c, code: r.code, stderr: r.stderr }).toEqual({ c, code: 0, stderr: '' });
      expect(r.stdout, c).toMatch(/usage|options/i);
    }
  });

  it('runs the command in its own process, not a child: start reports a bad configuration as the hub does', async () => {
    const r = await cli(['start'], { MQTT_PORT: 'x', LOG_LEVEL: 'silent' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('arena-hub: invalid configuration:\nMQTT_PORT: must be a whole number');
  });
});
