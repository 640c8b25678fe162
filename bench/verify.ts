import { DuckDBInstance } from '@duckdb/node-api';
import { PHASE_STRIDE } from './load/payloads.js';
import type { PhaseRecord } from './load/generator.js';

export interface PhaseCheck {
  readonly name: string;
  readonly acked: number;
  readonly stored: number;
  /** stored − distinct: a message stored twice. */
  readonly duplicates: number;
  /** acked − stored: a message acknowledged but not in the file. */
  readonly lost: number;
}

export interface FileCheck {
  readonly phases: readonly PhaseCheck[];
  readonly falls: { readonly acked: number; readonly stored: number };
  readonly rejections: number;
  readonly lost: number;
  readonly duplicates: number;
}

/**
 * After the hub has exited: counts, per phase, the stored heartbeats (by the phase
 * encoded in their uptime reading, see load/payloads.ts) and compares them with the
 * PUBACKs the generator counted. Reads the DuckDB file directly, read-only.
 */
export async function verifyStoredFile(path: string, phases: readonly PhaseRecord[]): Promise<FileCheck> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const c = await instance.connect();
  try {
    const rows = (
      await c.runAndReadAll(
        `SELECT CAST(floor(value / ${PHASE_STRIDE}) AS INTEGER) AS phase, count(*) AS n, count(DISTINCT (device_id, value)) AS d
         FROM points WHERE name = 'device_uptime' GROUP BY 1`,
      )
    ).getRows();
    const byPhase = new Map(rows.map((r) => [Number(r[0]), { n: Number(r[1]), d: Number(r[2]) }]));
    const one = async (sql: string): Promise<number> => Number((await c.runAndReadAll(sql)).getRows()[0]?.[0] ?? 0);
    const fallsStored = await one(`SELECT count(*) FROM points WHERE name = 'fall'`);
    const rejections = await one('SELECT count(*) FROM rejections');
    // Several records may share a phase number (the overload section's capacity probe).
    const acked = new Map<number, { names: string[]; acked: number }>();
    for (const p of phases) {
      const a = acked.get(p.phase) ?? { names: [], acked: 0 };
      a.names.push(p.name);
      a.acked += p.heartbeats.acked;
      acked.set(p.phase, a);
    }
    const checks = [...acked].map(([phase, a]): PhaseCheck => {
      const s = byPhase.get(phase) ?? { n: 0, d: 0 };
      return { name: a.names.join(' + '), acked: a.acked, stored: s.d, duplicates: s.n - s.d, lost: a.acked - s.d };
    });
    const fallsAcked = phases.reduce((a, p) => a + p.falls.acked, 0);
    return {
      phases: checks,
      falls: { acked: fallsAcked, stored: fallsStored },
      rejections,
      lost: checks.reduce((a, p) => a + Math.max(0, p.lost), 0) + Math.max(0, fallsAcked - fallsStored),
      duplicates: checks.reduce((a, p) => a + p.duplicates, 0),
    };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}
