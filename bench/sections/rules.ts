import { performance } from 'node:perf_hooks';
import { localClock } from '../../alarms/clock.js';
import { Evaluator } from '../../alarms/evaluate.js';
import { profileAlarmInfo } from '../../alarms/profile-info.js';
import type { RuleEnv } from '../../alarms/rules/types.js';
import { AlarmSettingsInput } from '../../kernel/alarms.js';
import type { Reading } from '../../kernel/telemetry.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { join } from 'node:path';
import { alarmRestart } from '../alarm-restart.js';
import { ROOT } from '../config.js';
import type { Row, Section } from './types.js';

const MINUTE = 60_000;

/**
 * The alarm rules' cost per point, in process: one dialysis participant's drink and urine
 * points (the fluid-balance rule keeps a 72 h window) against the same number of body
 * weights (a threshold, no window) as the baseline, both through the evaluator the hub
 * runs inside its commit turn. Points come a minute apart, one in ten of them late.
 */
export const rulesSection: Section = {
  id: 'rules',
  title: 'alarm rules: fluid-balance window vs weight threshold',
  async run(_ctx, config) {
    const points = config.quick ? 20_000 : 100_000;
    const profiles = loadProfiles(join(ROOT, 'device-profiles/profiles'), { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });
    const settings = AlarmSettingsInput.parse({
      siteId: 'bench',
      fluid: { windowH: 72, maxNetGainMl: 1e12, maxNetLossMl: 1e12 },
      weight: { targetKg: 70, maxGainKg: 100 },
    });
    const infos = profileAlarmInfo(profiles);
    const env: RuleEnv = {
      profile: (id) => infos.get(id),
      event: (name) => profiles.catalogue.events.get(name),
      settingsOf: () => settings,
      allSettings: () => [['p-1', settings]],
      clock: localClock('Europe/Oslo'),
    };
    const reading = (i: number, name: string, value: number, unit: string): Reading => {
      const t = Date.UTC(2026, 0, 1) + i * MINUTE - (i % 10 === 9 ? 30 * MINUTE : 0);
      return {
        kind: 'reading',
        messageId: BigInt(i + 1),
        seq: 0,
        deviceId: 'AQ-B',
        profileId: 'aquascale',
        family: 'fluid-balance',
        siteId: 'bench',
        roomId: 'r-1',
        trialId: 't-1',
        participantId: 'p-1',
        name,
        value,
        unit,
        deviceTime: t,
        receivedAt: t,
        clockSkewed: false,
      };
    };
    const run = (make: (i: number) => Reading): number => {
      const evaluator = new Evaluator(env);
      const t0 = performance.now();
      for (let i = 0; i < points; i++) evaluator.point(make(i));
      return ((performance.now() - t0) * 1000) / points;
    };
    const weightUs = run((i) => reading(i, 'body_weight', 70 + (i % 7) / 10, 'kg'));
    const fluidUs = run((i) => reading(i, i % 3 === 0 ? 'fluid_output' : 'fluid_intake', 150, 'mL'));
    const rows: Row[] = [
      {
        section: 'rules',
        figure: `fluid-balance rule per point (${points} points, 72 h window of up to 4320)`,
        value: fluidUs,
        unit: 'µs',
        baseline: { label: 'weight threshold per point', value: weightUs },
        target: { better: 'lower', goal: 2, limit: 5, on: 'ratio', unit: '×' },
      },
    ];
    // A restart used to replay the window: the issue measured 271 s to ready with 168 000 fluid points in it.
    const windowPoints = config.quick ? 168_000 : 840_000;
    const empty = await alarmRestart(0, profiles);
    const full = await alarmRestart(windowPoints, profiles);
    rows.push({
      section: 'rules',
      figure: `alarm engine ready after a restart with ${windowPoints} fluid points in its 72 h window (from its checkpoint of ${(full.checkpointBytes / 1e6).toFixed(1)} MB)`,
      value: full.ms / 1000,
      unit: 's',
      baseline: { label: 'with an empty window', value: empty.ms / 1000 },
      target: { better: 'lower', goal: 5, limit: 10, on: 'value', unit: 's' },
    });
    return { rows, details: { points, weightUs, fluidUs, restart: { windowPoints, empty, full } } };
  },
};
