import { HubError } from '../../kernel/errors.js';
import { isOpen, type Participant, type TrialRegistry, type TrialStatus } from '../../kernel/trials.js';
import type { SqlClient } from './sql-client.js';
import type { AttributionIndex } from './attribution.js';
import type { CacheFreshness } from './freshness.js';
import { ASSIGNMENT_COLUMNS, toAssignment, type AssignmentRow } from './assignments.js';
import { conflict, notFound, parseInput } from './inputs.js';
import { ParticipantInput } from './trial-inputs.js';

interface ParticipantRow {
  id: string;
  trial_id: string;
  created_at: number;
  erased_at: number | null;
}
const COLUMNS = 'id, trial_id, created_at, erased_at';
const toParticipant = (r: ParticipantRow): Participant => ({
  id: r.id,
  trialId: r.trial_id,
  createdAt: Number(r.created_at),
  erasedAt: r.erased_at === null ? null : Number(r.erased_at),
});

export type ParticipantStore = Pick<TrialRegistry, 'enrolParticipant' | 'getParticipant' | 'listParticipants' | 'markErased' | 'erasedParticipants'>;

/** Participants: a pseudonym in one trial, and the registry's half of erasure. */
export function sqlParticipants(sql: SqlClient, now: () => number, index: AttributionIndex, freshness: CacheFreshness): ParticipantStore {
  const get = async (id: string): Promise<Participant | undefined> => {
    const [row] = await sql.query<ParticipantRow>(`SELECT ${COLUMNS} FROM participants WHERE id = $1`, [id]);
    return row && toParticipant(row);
  };
  return {
    async enrolParticipant(input) {
      const p = parseInput(ParticipantInput, input);
      const participant: Participant = { ...p, createdAt: now(), erasedAt: null };
      await sql.transaction(async (tx) => {
        const [trial] = await tx.query<{ status: TrialStatus }>('SELECT status FROM trials WHERE id = $1', [p.trialId]);
        if (!trial) throw notFound('trial', p.trialId);
        if (!isOpen(trial.status))
          throw new HubError('CONFLICT', `trial "${p.trialId}" is ${trial.status}; participants are enrolled while it is planned or running`);
        if ((await tx.query('SELECT 1 FROM participants WHERE id = $1', [p.id])).length > 0) throw conflict('participant', p.id);
        await tx.query(`INSERT INTO participants (${COLUMNS}) VALUES ($1, $2, $3, $4)`, [participant.id, participant.trialId, participant.createdAt, null]);
      });
      return participant;
    },

    getParticipant: get,

    async listParticipants(trialId) {
      return (await sql.query<ParticipantRow>(`SELECT ${COLUMNS} FROM participants WHERE trial_id = $1 ORDER BY id`, [trialId])).map(toParticipant);
    },

    async erasedParticipants(ids) {
      if (ids?.length === 0) return [];
      // Placeholders rather than an array parameter: the same SQL runs on DuckDB and PostgreSQL.
      const among = ids ? ` AND id IN (${ids.map((_, i) => `$${i + 1}`).join(', ')})` : '';
      const rows = await sql.query<{ id: string }>(`SELECT id FROM participants WHERE erased_at IS NOT NULL${among} ORDER BY id`, ids ? [...ids] : []);
      return rows.map((r) => r.id);
    },

    async markErased(participantId, at) {
      const ticket = freshness.begin();
      const ended = await sql.transaction(async (tx) => {
        const [row] = await tx.query<ParticipantRow>(`SELECT ${COLUMNS} FROM participants WHERE id = $1`, [participantId]);
        if (!row) throw notFound('participant', participantId);
        if (row.erased_at === null) await tx.query('UPDATE participants SET erased_at = $1 WHERE id = $2', [at, participantId]);
        // Nothing measured from now on may be attributed to them: end every assignment still
        // running at `at`; one that has not started yet shrinks to nothing.
        const open = await tx.query<AssignmentRow>(
          `SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE participant_id = $1 AND (ends_at IS NULL OR ends_at > $2)`,
          [participantId, at],
        );
        const out = [];
        for (const r of open) {
          const a = toAssignment(r);
          const end = Math.max(a.from, at);
          await tx.query('UPDATE assignments SET ends_at = $1 WHERE id = $2', [end, a.id]);
          out.push({ ...a, to: end });
        }
        return out;
      });
      freshness.writeThrough(ticket, () => {
        for (const a of ended) index.setAssignment(a);
      });
      return (await get(participantId))!;
    },
  };
}
