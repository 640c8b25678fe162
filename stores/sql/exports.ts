import type { Json } from '../../kernel/audit.js';
import type { ConsentScope } from '../../kernel/consent.js';
import type { ExportLog, ExportRecord } from '../../kernel/exports.js';
import type { SqlClient } from './sql-client.js';

interface ExportRow {
  id: string;
  trial_id: string;
  audience: string;
  vendor_id: string | null;
  token_id: string;
  created_at: number;
  manifest: string;
}
const COLUMNS = 'id, trial_id, audience, vendor_id, token_id, created_at, manifest';

/** Manifests of the datasets that left the hub, by export id. */
export function sqlExports(sql: SqlClient): ExportLog {
  return {
    async recordExport(r) {
      await sql.query(`INSERT INTO exports (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        r.id,
        r.trialId,
        r.audience,
        r.vendorId,
        r.tokenId,
        r.createdAt,
        JSON.stringify(r.manifest),
      ]);
    },
    async getExport(id) {
      const [row] = await sql.query<ExportRow>(`SELECT ${COLUMNS} FROM exports WHERE id = $1`, [id]);
      if (!row) return undefined;
      const record: ExportRecord = {
        id: row.id,
        trialId: row.trial_id,
        audience: row.audience as ConsentScope,
        vendorId: row.vendor_id,
        tokenId: row.token_id,
        createdAt: Number(row.created_at),
        manifest: JSON.parse(row.manifest) as { [key: string]: Json },
      };
      return record;
    },
  };
}
