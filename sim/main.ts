import '../kernel/runtime.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadProfiles } from '../device-profiles/load.js';
import { createLogger } from '../kernel/log.js';
import { DAY, hourOf } from './agenda.js';
import { runSimulator, type SimStats } from './simulator.js';

const USAGE = `usage: node dist/sim/main.js --url mqtt://127.0.0.1:1883 --devices data/demo-devices.json [--speed 60]
         [--duration <s>] [--seed <n>] [--offline <deviceId> [--offline-after <s>] [--offline-for <s>]]
         [--qos 0|1] [--log-level info]
         [--replay-from <ISO time> [--intervention-from <ISO time> --intervention-effect <factor>]]

  --replay-from          replay the past from this instant up to now, device clocks reading the
                         replayed time (the hub takes device times up to 30 days old by default);
                         stops by itself at the present
  --intervention-from    from this instant falls and missed doses are --intervention-effect times
                         as likely (0.5 halves them), so a trial report has a difference to show`;

const Seconds = z.coerce
  .number()
  .positive()
  .transform((s) => s * 1000);
/** An ISO 8601 date-time with its offset, e.g. 2026-11-02T00:00:00Z. */
const Instant = z.iso.datetime({ offset: true }).transform((s) => Date.parse(s));
const Args = z
  .object({
    url: z.string().regex(/^(mqtts?|tcp|tls|wss?):\/\/./, 'an MQTT URL such as mqtt://127.0.0.1:1883'),
    devices: z.string().min(1, 'the devices file, e.g. data/demo-devices.json'),
    speed: z.coerce.number().positive().max(100_000).default(60),
    duration: Seconds.optional(),
    seed: z.coerce.number().int().optional(),
    offline: z.string().min(1).optional(),
    'offline-after': z.coerce
      .number()
      .nonnegative()
      .transform((s) => s * 1000)
      .optional(),
    'offline-for': Seconds.optional(),
    qos: z
      .enum(['0', '1'])
      .default('1')
      .transform((q) => (q === '0' ? 0 : 1) as 0 | 1),
    'log-level': z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'replay-from': Instant.optional(),
    'intervention-from': Instant.optional(),
    'intervention-effect': z.coerce.number().nonnegative().max(100).optional(),
  })
  .refine((a) => (a['intervention-from'] === undefined) === (a['intervention-effect'] === undefined), {
    message: '--intervention-from and --intervention-effect go together',
    path: ['intervention-effect'],
  });

/** As the hub's demo seed writes it: { "<deviceId>": { "profileId": "...", "secret": "..." } }. */
const DevicesFile = z.record(z.string().min(1), z.object({ profileId: z.string().min(1), secret: z.string().min(1) }));

/** device-profiles/ at the package root, from dist/sim/main.js or sim/main.ts alike. */
const PROFILES_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../device-profiles/profiles' : '../device-profiles/profiles', import.meta.url),
);
const SUMMARY_EVERY_MS = 10_000;

function fail(message: string): never {
  console.error(`arena-sim: ${message}\n${USAGE}`);
  process.exit(2);
}

function parse(): z.infer<typeof Args> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        devices: { type: 'string' },
        speed: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        offline: { type: 'string' },
        'offline-after': { type: 'string' },
        'offline-for': { type: 'string' },
        qos: { type: 'string' },
        'log-level': { type: 'string' },
        'replay-from': { type: 'string' },
        'intervention-from': { type: 'string' },
        'intervention-effect': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const args = Args.safeParse(values);
  if (!args.success) return fail(args.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  return args.data;
}

function readDevices(file: string): { deviceId: string; profileId: string; secret: string }[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return fail(`cannot read devices file ${file}: ${(e as Error).message}`);
  }
  const parsed = DevicesFile.safeParse(raw);
  if (!parsed.success) return fail(`${file}: expected { "<deviceId>": { "profileId", "secret" } }: ${parsed.error.issues[0]?.message}`);
  return Object.entries(parsed.data).map(([deviceId, d]) => ({ deviceId, ...d }));
}

const clock = (t: number): string => {
  const h = hourOf(t);
  return `day ${Math.floor(t / DAY)} ${String(Math.floor(h)).padStart(2, '0')}:${String(Math.floor((h % 1) * 60)).padStart(2, '0')}`;
};
const totals = ({ published, acknowledged, errors, suppressed }: SimStats) => ({ published, acknowledged, errors, suppressed });

const args = parse();
const logger = createLogger(args['log-level']).child({ component: 'simulator' });
const devices = readDevices(args.devices);
if (devices.length === 0) fail(`${args.devices}: no devices`);
// Only topics, intervals and ids are used here; the time limits matter to the hub, not to us.
const profiles = (() => {
  try {
    return loadProfiles(PROFILES_DIR, { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });
  } catch (e) {
    return fail((e as Error).message);
  }
})();

const sim = await runSimulator({
  url: args.url,
  devices,
  profiles,
  speed: args.speed,
  durationMs: args.duration,
  seed: args.seed,
  offlineDeviceId: args.offline,
  offlineAfterMs: args['offline-after'],
  offlineForMs: args['offline-for'],
  qos: args.qos,
  replayFrom: args['replay-from'],
  intervention: args['intervention-from'] !== undefined ? { from: args['intervention-from'], factor: args['intervention-effect']! } : undefined,
  logger,
}).catch((e: Error) => fail(e.message));
const summary = setInterval(() => logger.info({ sim: clock(sim.simNow()), ...totals(sim.stats()) }, 'simulator running'), SUMMARY_EVERY_MS);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void sim.stop());
const final = await sim.done;
clearInterval(summary);
logger.info({ devices: final.devices }, 'per-device counts');
process.exit(0);
