import type { Vendor, VendorRegistry } from '../../kernel/registry.js';
import type { SqlClient } from './sql-client.js';
import { VendorInput, conflict, parseInput } from './inputs.js';

interface VendorRow {
  id: string;
  name: string;
  created_at: number;
}
const toVendor = (r: VendorRow): Vendor => ({ id: r.id, name: r.name, createdAt: Number(r.created_at) });

export function sqlVendors(sql: SqlClient, now: () => number): VendorRegistry {
  return {
    async createVendor(input) {
      const v = parseInput(VendorInput, input);
      const vendor: Vendor = { ...v, createdAt: now() };
      await sql.transaction(async (tx) => {
        if ((await tx.query('SELECT 1 FROM vendors WHERE id = $1', [v.id])).length > 0) throw conflict('vendor', v.id);
        await tx.query('INSERT INTO vendors (id, name, created_at) VALUES ($1, $2, $3)', [vendor.id, vendor.name, vendor.createdAt]);
      });
      return vendor;
    },
    async listVendors() {
      return (await sql.query<VendorRow>('SELECT id, name, created_at FROM vendors ORDER BY id')).map(toVendor);
    },
    async getVendor(id) {
      const [row] = await sql.query<VendorRow>('SELECT id, name, created_at FROM vendors WHERE id = $1', [id]);
      return row && toVendor(row);
    },
  };
}
