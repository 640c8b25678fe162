import { randomBytes } from 'node:crypto';
import { HubError } from '../../kernel/errors.js';
import { isOpen, type Assignment, type TrialRegistry, type TrialStatus } from '../../kernel/trials.js';
import type { SqlClient } from './sql-client.js';
import type { AttributionIndex } from './attribution.js';
import type { CacheFreshness } from './freshness.js';
import { badReference, notFound, parseInput } from './inputs.js';
import { AssignmentInput } from './trial-inputs.js';

export interface AssignmentRow {
  id: string;
  trial_id: string;
  device_id: string;
  participant_id: string;
  room_id: string | null;
  bed: number | null;
  starts_at: number;
  ends_at: number | null;
  created_at: number;
}

export const ASSIGNMENT_COLUMNS = 'id, trial_id, device_id, participant_id, room_id, bed, starts_at, ends_at, created_at';

export const toAssignment = (r: AssignmentRow): Assignment => ({
  id: r.id,
  trialId: r.trial_id,
  deviceId: r.device_id,
  participantId: r.participant_id,
  roomId: r.room_id,
  bed: r.bed === null ? null : Number(r.bed),
  from: Number(r.starts_at),
  to: r.ends_at === null ? null : Number(r.ends_at),
  createdAt: Number(r.created_at),
});

type Span = { from: number; to: number };
const overlaps = (a: Span, b: Span): boolean => a.from < b.to && b.from < a.to;

/**
 * Which overlaps make sense. A device measures one person at a time (a room sensor
 * measures whoever is in its bed), so one device's intervals never overlap. A bed holds
 * one participant at a time, though several of their devices may serve it. A
 * participant may wear and use several devices at once, but is in one room at a time.
 */
function clash(next: Assignment & Span, other: Assignment & Span): string | undefined {
  if (!overlaps(next, other)) return undefined;
  if (other.deviceId === next.deviceId) return `device "${next.deviceId}" is already assigned (${other.id}) in that interval`;
  if (next.roomId !== null && other.roomId === next.roomId && next.bed !== null && other.bed === next.bed && other.participantId !== next.participantId) {
    return `bed ${next.bed} of room "${next.roomId}" is already taken by another participant (${other.id}) in that interval`;
  }
  if (other.participantId === next.participantId && next.roomId !== null && other.roomId !== null && other.roomId !== next.roomId) {
    return `participant "${next.participantId}" is in room "${other.roomId}" (${other.id}) in that interval`;
  }
  return undefined;
}

export type AssignmentStore = Pick<TrialRegistry, 'createAssignment' | 'endAssignment' | 'listAssignments'>;

/** Reads every assignment into the attribution index `into`. */
export async function loadAssignments(sql: SqlClient, into: AttributionIndex): Promise<void> {
  for (const r of await sql.query<AssignmentRow>(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments`)) into.setAssignment(toAssignment(r));
}

/** Device ↔ participant ↔ room/bed intervals, kept in the attribution index for ingest. */
export function sqlAssignments(sql: SqlClient, now: () => number, index: AttributionIndex, freshness: CacheFreshness): AssignmentStore {
  return {
    async createAssignment(input) {
      const a = parseInput(AssignmentInput, input);
      const assignment: Assignment = { ...a, id: `asg-${randomBytes(9).toString('base64url')}`, createdAt: now() };
      const ticket = freshness.begin();
      await sql.transaction(async (tx) => {
        const [trial] = await tx.query<{ site_id: string; starts_at: number; ends_at: number; status: TrialStatus }>(
          'SELECT site_id, starts_at, ends_at, status FROM trials WHERE id = $1',
          [a.trialId],
        );
        if (!trial) throw notFound('trial', a.trialId);
        if (!isOpen(trial.status))
          throw new HubError('CONFLICT', `trial "${a.trialId}" is ${trial.status}; assignments are made while it is planned or running`);
        const period = { from: Number(trial.starts_at), to: Number(trial.ends_at) };
        if (a.from < period.from || (a.to ?? period.to) > period.to || a.from >= period.to) {
          throw new HubError('VALIDATION_FAILED', `from/to: the assignment must lie inside the trial period`);
        }
        const [p] = await tx.query<{ trial_id: string; erased_at: number | null }>('SELECT trial_id, erased_at FROM participants WHERE id = $1', [
          a.participantId,
        ]);
        if (!p || p.trial_id !== a.trialId) throw badReference('participantId', `participant of trial "${a.trialId}"`, a.participantId);
        if (p.erased_at !== null) throw new HubError('CONFLICT', `participant "${a.participantId}" was erased`);
        const [device] = await tx.query<{ vendor_id: string }>('SELECT vendor_id FROM devices WHERE id = $1', [a.deviceId]);
        if (!device) throw badReference('deviceId', 'device', a.deviceId);
        if ((await tx.query('SELECT 1 FROM trial_vendors WHERE trial_id = $1 AND vendor_id = $2', [a.trialId, device.vendor_id])).length === 0) {
          throw new HubError('VALIDATION_FAILED', `deviceId: the device's vendor "${device.vendor_id}" does not take part in trial "${a.trialId}"`);
        }
        if (a.roomId !== null) {
          const [room] = await tx.query<{ site_id: string; beds: number }>('SELECT site_id, beds FROM rooms WHERE id = $1', [a.roomId]);
          if (!room || room.site_id !== trial.site_id) throw badReference('roomId', `room at site "${trial.site_id}" with id`, a.roomId);
          if (a.bed !== null && a.bed > Number(room.beds)) throw new HubError('VALIDATION_FAILED', `bed: room "${a.roomId}" has ${room.beds} beds`);
        }
        // Open intervals end with their trial; every trial's period bounds its own assignments.
        const others = await tx.query<AssignmentRow & { trial_ends_at: number }>(
          `SELECT ${ASSIGNMENT_COLUMNS.split(', ')
            .map((c) => `a.${c}`)
            .join(', ')}, t.ends_at AS trial_ends_at
           FROM assignments a JOIN trials t ON t.id = a.trial_id
           WHERE a.device_id = $1 OR a.participant_id = $2 OR a.room_id = $3`,
          [a.deviceId, a.participantId, a.roomId],
        );
        const span = { ...assignment, to: a.to ?? period.to };
        for (const o of others) {
          const other = toAssignment(o);
          const problem = clash(span, { ...other, to: other.to ?? Number(o.trial_ends_at) });
          if (problem) throw new HubError('CONFLICT', problem);
        }
        await tx.query(`INSERT INTO assignments (${ASSIGNMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          assignment.id,
          assignment.trialId,
          assignment.deviceId,
          assignment.participantId,
          assignment.roomId,
          assignment.bed,
          assignment.from,
          assignment.to,
          assignment.createdAt,
        ]);
      });
      freshness.writeThrough(ticket, () => index.setAssignment(assignment));
      return assignment;
    },

    async endAssignment(id, at) {
      if (!Number.isSafeInteger(at)) throw new HubError('VALIDATION_FAILED', 'at: epoch milliseconds');
      const ticket = freshness.begin();
      const ended = await sql.transaction(async (tx) => {
        const [row] = await tx.query<AssignmentRow>(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments WHERE id = $1`, [id]);
        if (!row) throw notFound('assignment', id);
        const a = toAssignment(row);
        if (at <= a.from) throw new HubError('VALIDATION_FAILED', 'at: must be after the assignment starts');
        // Ending can only shorten: lengthening could create the overlaps createAssignment refuses.
        if (a.to !== null && at >= a.to) return a;
        await tx.query('UPDATE assignments SET ends_at = $1 WHERE id = $2', [at, id]);
        return { ...a, to: at };
      });
      freshness.writeThrough(ticket, () => index.setAssignment(ended));
      return ended;
    },

    async listAssignments(filter) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.trialId !== undefined) where.push(`trial_id = $${params.push(filter.trialId)}`);
      if (filter.participantId !== undefined) where.push(`participant_id = $${params.push(filter.participantId)}`);
      if (filter.deviceId !== undefined) where.push(`device_id = $${params.push(filter.deviceId)}`);
      const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      return (await sql.query<AssignmentRow>(`SELECT ${ASSIGNMENT_COLUMNS} FROM assignments ${clause} ORDER BY starts_at, id`, params)).map(toAssignment);
    },
  };
}
