import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalogue } from '../../device-profiles/catalogue.js';
import type { Decoder, DecodeResult, TimeLimits } from '../../device-profiles/decode.js';
import { compileProfileSource } from '../../device-profiles/load.js';
import type { Point } from '../../kernel/telemetry.js';

/**
 * A profile folder: profile.yaml, an optional catalogue/ of entries it adds, and
 * samples/: each <name>.json is a payload exactly as the device sends it, and
 * <name>.expected.json what the hub makes of it (on which device and topic, when received).
 */
export const PROFILE_FOLDERS = ['device-profiles/profiles', 'docs/examples'].flatMap((root) =>
  readdirSync(root)
    .filter((d) => existsSync(join(root, d, 'profile.yaml')))
    .sort()
    .map((d) => join(root, d)),
);

export const LIMITS: TimeLimits = { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 };

export interface Expected {
  readonly deviceId: string;
  readonly topic: string;
  readonly receivedAt: string;
  readonly points: readonly Record<string, unknown>[];
  readonly problems: readonly { code: string; path: string }[];
}

/** The folder's profile, against the shipped catalogue plus the folder's own catalogue/, from YAML only. */
export function folderDecoder(folder: string): Decoder {
  const extra = join(folder, 'catalogue');
  const catalogue = loadCatalogue(existsSync(extra) ? [extra] : []);
  const result = compileProfileSource(readFileSync(join(folder, 'profile.yaml'), 'utf8'), catalogue, LIMITS);
  if (!result.ok) throw new Error(`${folder}: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return result.decoder;
}

export const sampleNames = (folder: string): string[] =>
  readdirSync(join(folder, 'samples'))
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .sort()
    .map((f) => f.slice(0, -'.json'.length));

export function decodeSample(decoder: Decoder, folder: string, name: string, meta: Pick<Expected, 'deviceId' | 'topic' | 'receivedAt'>): DecodeResult {
  return decoder.decode({
    messageId: 1n,
    deviceId: meta.deviceId,
    topic: meta.topic,
    payload: readFileSync(join(folder, 'samples', `${name}.json`)),
    receivedAt: Date.parse(meta.receivedAt),
    attribution: { siteId: null, roomId: null, trialId: null, participantId: null },
  });
}

/** What a vendor reads about a point: the normalised fields, device time as ISO 8601. */
export function normalised(p: Point): Record<string, unknown> {
  const common = { kind: p.kind, name: p.name, deviceTime: new Date(p.deviceTime).toISOString() };
  if (p.kind === 'reading') return { ...common, value: p.value, unit: p.unit, ...(p.attributes ? { attributes: p.attributes } : {}) };
  return { ...common, alertCode: p.alertCode, dispenseCode: p.dispenseCode, severity: p.severity, attributes: p.attributes };
}
