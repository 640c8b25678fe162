import { HubError } from '../../kernel/errors.js';
import { NEXT_STATUS, TRIAL_STATUSES, type Trial, type TrialRegistry, type TrialStatus } from '../../kernel/trials.js';
import type { SqlClient } from './sql-client.js';
import type { AttributionIndex } from './attribution.js';
import type { CacheFreshness } from './freshness.js';
import { badReference, conflict, notFound, parseInput } from './inputs.js';
import { TrialInput } from './trial-inputs.js';

interface TrialRow {
  id: string;
  name: string;
  site_id: string;
  protocol_ref: string;
  starts_at: number;
  ends_at: number;
  baseline_from: number | null;
  baseline_to: number | null;
  intervention_from: number | null;
  status: string;
  research_device_data: boolean;
  created_at: number;
}

const COLUMNS = 'id, name, site_id, protocol_ref, starts_at, ends_at, baseline_from, baseline_to, status, research_device_data, created_at, intervention_from';

function toTrial(r: TrialRow, vendorIds: readonly string[]): Trial {
  if (!TRIAL_STATUSES.includes(r.status as TrialStatus)) throw new HubError('INTERNAL', `trials row ${r.id} has unknown status "${r.status}"`);
  return {
    id: r.id,
    name: r.name,
    siteId: r.site_id,
    vendorIds: [...vendorIds].sort(),
    protocolRef: r.protocol_ref,
    period: { from: Number(r.starts_at), to: Number(r.ends_at) },
    baseline: r.baseline_from === null || r.baseline_to === null ? null : { from: Number(r.baseline_from), to: Number(r.baseline_to) },
    interventionFrom: r.intervention_from === null ? null : Number(r.intervention_from),
    status: r.status as TrialStatus,
    researchDeviceData: Boolean(r.research_device_data),
    createdAt: Number(r.created_at),
  };
}

export type TrialStore = Pick<TrialRegistry, 'createTrial' | 'getTrial' | 'listTrials' | 'setTrialStatus'>;

async function readTrials(sql: SqlClient, where: string, params: unknown[]): Promise<Trial[]> {
  const rows = await sql.query<TrialRow>(`SELECT ${COLUMNS} FROM trials ${where} ORDER BY id`, params);
  if (rows.length === 0) return [];
  const vendors = new Map<string, string[]>();
  for (const v of await sql.query<{ trial_id: string; vendor_id: string }>('SELECT trial_id, vendor_id FROM trial_vendors')) {
    vendors.set(v.trial_id, [...(vendors.get(v.trial_id) ?? []), v.vendor_id]);
  }
  return rows.map((r) => toTrial(r, vendors.get(r.id) ?? []));
}

/** Reads every trial's place (site, vendors, period) into the attribution index `into`. */
export async function loadTrials(sql: SqlClient, into: AttributionIndex): Promise<void> {
  for (const t of await readTrials(sql, '', [])) into.setTrial(t);
}

/** Trials: site, period, vendors, protocol reference, baseline and lifecycle. */
export function sqlTrials(sql: SqlClient, now: () => number, index: AttributionIndex, freshness: CacheFreshness): TrialStore {
  const load = (where: string, params: unknown[]): Promise<Trial[]> => readTrials(sql, where, params);
  const getTrial = async (id: string): Promise<Trial | undefined> => (await load('WHERE id = $1', [id]))[0];

  return {
    async createTrial(input) {
      const t = parseInput(TrialInput, input);
      const trial: Trial = { ...t, vendorIds: [...new Set(t.vendorIds)].sort(), status: 'planned', createdAt: now() };
      const ticket = freshness.begin();
      await sql.transaction(async (tx) => {
        if ((await tx.query('SELECT 1 FROM trials WHERE id = $1', [t.id])).length > 0) throw conflict('trial', t.id);
        if ((await tx.query('SELECT 1 FROM sites WHERE id = $1', [t.siteId])).length === 0) throw badReference('siteId', 'site', t.siteId);
        for (const v of trial.vendorIds) {
          if ((await tx.query('SELECT 1 FROM vendors WHERE id = $1', [v])).length === 0) throw badReference('vendorIds', 'vendor', v);
        }
        await tx.query(`INSERT INTO trials (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, [
          trial.id,
          trial.name,
          trial.siteId,
          trial.protocolRef,
          trial.period.from,
          trial.period.to,
          trial.baseline?.from ?? null,
          trial.baseline?.to ?? null,
          trial.status,
          trial.researchDeviceData,
          trial.createdAt,
          trial.interventionFrom,
        ]);
        for (const v of trial.vendorIds) await tx.query('INSERT INTO trial_vendors (trial_id, vendor_id) VALUES ($1, $2)', [trial.id, v]);
      });
      freshness.writeThrough(ticket, () => index.setTrial(trial));
      return trial;
    },

    getTrial,

    async listTrials(filter = {}) {
      if (filter.vendorId === undefined) return load('', []);
      return load('WHERE id IN (SELECT trial_id FROM trial_vendors WHERE vendor_id = $1)', [filter.vendorId]);
    },

    async setTrialStatus(id, status) {
      if (!TRIAL_STATUSES.includes(status)) throw new HubError('VALIDATION_FAILED', `status: one of ${TRIAL_STATUSES.join(', ')}`);
      await sql.transaction(async (tx) => {
        const [row] = await tx.query<{ status: TrialStatus }>('SELECT status FROM trials WHERE id = $1', [id]);
        if (!row) throw notFound('trial', id);
        if (row.status === status) return;
        if (NEXT_STATUS[row.status] !== status)
          throw new HubError('CONFLICT', `trial "${id}" is ${row.status}; the next status is ${NEXT_STATUS[row.status] ?? 'none (archived is final)'}`);
        await tx.query('UPDATE trials SET status = $1 WHERE id = $2', [status, id]);
      });
      return (await getTrial(id))!;
    },
  };
}
