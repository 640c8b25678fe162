import type { Room, Site, SiteRegistry } from '../../kernel/registry.js';
import type { SqlClient } from './sql-client.js';
import { RoomInput, SiteInput, conflict, notFound, parseInput } from './inputs.js';

interface SiteRow {
  id: string;
  name: string;
  kind: Site['kind'];
  created_at: number;
}
interface RoomRow {
  id: string;
  site_id: string;
  name: string;
  beds: number;
  created_at: number;
}

const toSite = (r: SiteRow): Site => ({ id: r.id, name: r.name, kind: r.kind, createdAt: Number(r.created_at) });
const toRoom = (r: RoomRow): Room => ({ id: r.id, siteId: r.site_id, name: r.name, beds: Number(r.beds), createdAt: Number(r.created_at) });

/** Sites and the rooms inside them. */
export function sqlSites(sql: SqlClient, now: () => number): SiteRegistry {
  return {
    async createSite(input) {
      const s = parseInput(SiteInput, input);
      const site: Site = { ...s, createdAt: now() };
      await sql.transaction(async (tx) => {
        if ((await tx.query('SELECT 1 FROM sites WHERE id = $1', [s.id])).length > 0) throw conflict('site', s.id);
        await tx.query('INSERT INTO sites (id, name, kind, created_at) VALUES ($1, $2, $3, $4)', [site.id, site.name, site.kind, site.createdAt]);
      });
      return site;
    },
    async listSites() {
      return (await sql.query<SiteRow>('SELECT id, name, kind, created_at FROM sites ORDER BY id')).map(toSite);
    },
    async getSite(id) {
      const [row] = await sql.query<SiteRow>('SELECT id, name, kind, created_at FROM sites WHERE id = $1', [id]);
      return row && toSite(row);
    },
    async createRoom(input) {
      const r = parseInput(RoomInput, input);
      const room: Room = { ...r, createdAt: now() };
      await sql.transaction(async (tx) => {
        // The site is the parent resource (POST /v1/sites/:siteId/rooms), hence NOT_FOUND.
        if ((await tx.query('SELECT 1 FROM sites WHERE id = $1', [r.siteId])).length === 0) throw notFound('site', r.siteId);
        if ((await tx.query('SELECT 1 FROM rooms WHERE id = $1', [r.id])).length > 0) throw conflict('room', r.id);
        await tx.query('INSERT INTO rooms (id, site_id, name, beds, created_at) VALUES ($1, $2, $3, $4, $5)', [
          room.id,
          room.siteId,
          room.name,
          room.beds,
          room.createdAt,
        ]);
      });
      return room;
    },
    async listRooms(siteId) {
      const rows =
        siteId === undefined
          ? await sql.query<RoomRow>('SELECT id, site_id, name, beds, created_at FROM rooms ORDER BY site_id, id')
          : await sql.query<RoomRow>('SELECT id, site_id, name, beds, created_at FROM rooms WHERE site_id = $1 ORDER BY id', [siteId]);
      return rows.map(toRoom);
    },
  };
}
