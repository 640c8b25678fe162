import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from '../kernel/registry.js';

/** The demonstration arena: both test sites, the four sample vendors' devices and two more dialects. */
const SITES = [
  {
    id: 'levanger-room',
    name: 'Fremtidens pasientrom, Levanger hospital',
    kind: 'patient-room' as const,
    rooms: [{ id: 'levanger-room-1', name: 'Patient room 1', beds: 1 }],
  },
  { id: 'ostersund-flat', name: 'Visningslägenhet Östersund', kind: 'demo-flat' as const, rooms: [{ id: 'ostersund-flat-bedroom', name: 'Bedroom', beds: 1 }] },
];

const DEVICES = [
  {
    id: 'RS3D-00421',
    vendor: 'roomsense',
    vendorName: 'RoomSense',
    profileId: 'roomsense-3d',
    siteId: 'levanger-room',
    roomId: 'levanger-room-1',
    label: '3D room sensor',
  },
  {
    id: 'BW-1182',
    vendor: 'bedwatch',
    vendorName: 'BedWatch',
    profileId: 'bedwatch-senml',
    siteId: 'levanger-room',
    roomId: 'levanger-room-1',
    label: 'Bed sensor',
  },
  {
    id: 'AQ-3001',
    vendor: 'aquascale',
    vendorName: 'AquaScale',
    profileId: 'aquascale',
    siteId: 'levanger-room',
    roomId: 'levanger-room-1',
    label: 'Fluid-balance station',
  },
  {
    id: 'DB-0077',
    vendor: 'dosebox',
    vendorName: 'DoseBox',
    profileId: 'dosebox',
    siteId: 'ostersund-flat',
    roomId: 'ostersund-flat-bedroom',
    label: 'Medication dispenser',
  },
  {
    id: 'MM-204',
    vendor: 'medimate',
    vendorName: 'MediMate',
    profileId: 'medimate-senml',
    siteId: 'ostersund-flat',
    roomId: 'ostersund-flat-bedroom',
    label: 'Bedside medication robot',
  },
  {
    id: 'VK-77',
    vendor: 'vekta',
    vendorName: 'Vekta',
    profileId: 'vekta-senml',
    siteId: 'ostersund-flat',
    roomId: 'ostersund-flat-bedroom',
    label: 'Weight scale',
  },
];

export type DemoDevices = Record<string, { profileId: string; secret: string }>;

/**
 * Idempotent: creates what is missing; a device whose secret file entry was lost gets a
 * new secret. Device secrets go to a file readable only by this user, for the simulator
 * and the README's mosquitto_pub example.
 */
export async function seedDemo(registry: Registry, secretsFile: string, log: Logger): Promise<DemoDevices> {
  const known: DemoDevices = existsSync(secretsFile) ? (JSON.parse(readFileSync(secretsFile, 'utf8')) as DemoDevices) : {};
  for (const s of SITES) {
    if (!(await registry.getSite(s.id))) {
      await registry.createSite({ id: s.id, name: s.name, kind: s.kind });
      for (const r of s.rooms) await registry.createRoom({ ...r, siteId: s.id });
    }
  }
  const out: DemoDevices = {};
  for (const d of DEVICES) {
    if (!(await registry.getVendor(d.vendor))) await registry.createVendor({ id: d.vendor, name: d.vendorName });
    const existing = await registry.getDevice(d.id);
    let secret = known[d.id]?.secret;
    if (!existing) {
      secret = (await registry.createDevice({ id: d.id, vendorId: d.vendor, profileId: d.profileId, siteId: d.siteId, roomId: d.roomId, label: d.label }))
        .secret;
    } else if (!secret) {
      secret = await registry.rotateDeviceSecret(d.id);
    }
    out[d.id] = { profileId: d.profileId, secret: secret! };
  }
  writeFileSync(secretsFile, `${JSON.stringify(out, null, 2)}\n`, { mode: 0o600 });
  log.info({ devices: Object.keys(out), secretsFile }, 'demo arena seeded');
  return out;
}
