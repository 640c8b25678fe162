import { hashSecret, newSecret } from '../../kernel/secrets.js';
import type { Device, DeviceRegistry, KnownProfiles } from '../../kernel/registry.js';
import type { SqlClient } from './sql-client.js';
import type { DeviceCache } from './device-directory.js';
import type { CacheFreshness } from './freshness.js';
import { DeviceInput, badReference, conflict, notFound, parseInput } from './inputs.js';

interface DeviceRow {
  id: string;
  vendor_id: string;
  profile_id: string;
  site_id: string | null;
  room_id: string | null;
  label: string;
  active: boolean;
  secret_hash: string;
  created_at: number;
}

const COLUMNS = 'id, vendor_id, profile_id, site_id, room_id, label, active, secret_hash, created_at';

const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  vendorId: r.vendor_id,
  profileId: r.profile_id,
  siteId: r.site_id,
  roomId: r.room_id,
  label: r.label,
  active: Boolean(r.active),
  createdAt: Number(r.created_at),
});

/** Reads every device with its secret hash into `into`. */
export async function loadDevices(sql: SqlClient, into: DeviceCache): Promise<void> {
  for (const row of await sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices`)) into.set(toDevice(row), row.secret_hash);
}

/** Devices and their MQTT secrets; `cache` (loaded by the caller) is the directory the broker and ingest read. */
export function sqlDevices(sql: SqlClient, profiles: KnownProfiles, now: () => number, cache: DeviceCache, freshness: CacheFreshness): DeviceRegistry {
  return {
    directory: cache,

    async createDevice(input) {
      const d = parseInput(DeviceInput, input);
      if (!profiles.get(d.profileId)) throw badReference('profileId', 'device profile', d.profileId);
      const ticket = freshness.begin();
      const secret = newSecret();
      // scrypt costs ~40 ms: hash before taking the (serialised) transaction.
      const secretHash = await hashSecret(secret);
      const device = await sql.transaction(async (tx): Promise<Device> => {
        if ((await tx.query('SELECT 1 FROM devices WHERE id = $1', [d.id])).length > 0) throw conflict('device', d.id);
        if ((await tx.query('SELECT 1 FROM vendors WHERE id = $1', [d.vendorId])).length === 0) throw badReference('vendorId', 'vendor', d.vendorId);
        let siteId = d.siteId;
        if (d.roomId !== null) {
          const [room] = await tx.query<{ site_id: string }>('SELECT site_id FROM rooms WHERE id = $1', [d.roomId]);
          if (!room) throw badReference('roomId', 'room', d.roomId);
          if (siteId !== null && room.site_id !== siteId) throw badReference('roomId', `room in site "${siteId}" with id`, d.roomId);
          // A room implies its site, so a caller may give the room alone.
          siteId = room.site_id;
        } else if (siteId !== null && (await tx.query('SELECT 1 FROM sites WHERE id = $1', [siteId])).length === 0) {
          throw badReference('siteId', 'site', siteId);
        }
        const created: Device = {
          id: d.id,
          vendorId: d.vendorId,
          profileId: d.profileId,
          siteId,
          roomId: d.roomId,
          label: d.label,
          active: true,
          createdAt: now(),
        };
        await tx.query(`INSERT INTO devices (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          created.id,
          created.vendorId,
          created.profileId,
          created.siteId,
          created.roomId,
          created.label,
          created.active,
          secretHash,
          created.createdAt,
        ]);
        return created;
      });
      freshness.writeThrough(ticket, () => cache.set(device, secretHash));
      return { device, secret };
    },

    async rotateDeviceSecret(id) {
      const ticket = freshness.begin();
      if (!cache.profileOf(id) && (await sql.query('SELECT 1 FROM devices WHERE id = $1', [id])).length === 0) throw notFound('device', id);
      const secret = newSecret();
      const secretHash = await hashSecret(secret);
      // The whole row back: the device may have been created by another process, not yet reloaded here.
      const [row] = await sql.query<DeviceRow>(`UPDATE devices SET secret_hash = $1 WHERE id = $2 RETURNING ${COLUMNS}`, [secretHash, id]);
      if (!row) throw notFound('device', id);
      freshness.writeThrough(ticket, () => cache.set(toDevice(row), row.secret_hash));
      return secret;
    },

    async setDeviceActive(id, active) {
      const ticket = freshness.begin();
      const [row] = await sql.query<DeviceRow>(`UPDATE devices SET active = $1 WHERE id = $2 RETURNING ${COLUMNS}`, [active, id]);
      if (!row) throw notFound('device', id);
      const device = toDevice(row);
      freshness.writeThrough(ticket, () => cache.set(device, row.secret_hash));
      return device;
    },

    async getDevice(id) {
      const [row] = await sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE id = $1`, [id]);
      return row && toDevice(row);
    },

    async listDevices(filter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.vendorId !== undefined) where.push(`vendor_id = $${params.push(filter.vendorId)}`);
      if (filter.siteId !== undefined) where.push(`site_id = $${params.push(filter.siteId)}`);
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      return (await sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices ${clause} ORDER BY id`, params)).map(toDevice);
    },
  };
}
