import { randomBytes } from 'node:crypto';
import { CONSENT_SCOPES, inWindows, releaseWindows, type ConsentReader, type ConsentScope } from '../../kernel/consent.js';
import { HubError } from '../../kernel/errors.js';
import type { ReleaseWindow } from '../../kernel/ports.js';
import { isOpen, type ConsentRecord, type TrialRegistry, type TrialStatus } from '../../kernel/trials.js';
import type { SqlClient } from './sql-client.js';
import { notFound, parseInput } from './inputs.js';
import { ConsentInput } from './trial-inputs.js';

interface ConsentRow {
  id: string;
  participant_id: string;
  scope: string;
  granted_at: number;
  withdrawn_at: number | null;
  form_version: string;
  recorded_at: number;
}
const COLUMNS = 'id, participant_id, scope, granted_at, withdrawn_at, form_version, recorded_at';
const prefixed = (alias: string): string =>
  COLUMNS.split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ');

function toConsent(r: ConsentRow): ConsentRecord {
  if (!CONSENT_SCOPES.includes(r.scope as ConsentScope)) throw new HubError('INTERNAL', `consents row ${r.id} has unknown scope "${r.scope}"`);
  return {
    id: r.id,
    participantId: r.participant_id,
    scope: r.scope as ConsentScope,
    grantedAt: Number(r.granted_at),
    withdrawnAt: r.withdrawn_at === null ? null : Number(r.withdrawn_at),
    formVersion: r.form_version,
    recordedAt: Number(r.recorded_at),
  };
}

export type ConsentStore = Pick<TrialRegistry, 'grantConsent' | 'withdrawConsent' | 'listConsents'> & { readonly consent: ConsentReader };

/**
 * Consent records and the consent rule's read side. The reader queries the records on
 * every call, never a cache: a grant or withdrawal takes effect on the very next request.
 */
export function sqlConsents(sql: SqlClient, now: () => number): ConsentStore {
  const consent: ConsentReader = {
    async windows(trialId, scope, at) {
      const [trial] = await sql.query<{ starts_at: number; ends_at: number }>('SELECT starts_at, ends_at FROM trials WHERE id = $1', [trialId]);
      if (!trial) return [];
      // Erased participants have no data left; they get no window either way.
      const rows = await sql.query<ConsentRow>(
        `SELECT ${prefixed('c')} FROM consents c JOIN participants p ON p.id = c.participant_id
         WHERE p.trial_id = $1 AND p.erased_at IS NULL AND c.scope = $2 ORDER BY c.participant_id, c.granted_at`,
        [trialId, scope],
      );
      return releaseWindows(rows.map(toConsent), scope, { from: Number(trial.starts_at), to: Number(trial.ends_at) }, at);
    },

    async allows(participantId, scope, measuredAt, at) {
      const [p] = await sql.query<{ trial_id: string; erased_at: number | null }>('SELECT trial_id, erased_at FROM participants WHERE id = $1', [
        participantId,
      ]);
      if (!p || p.erased_at !== null) return false;
      const windows: ReleaseWindow[] = (await consent.windows(p.trial_id, scope, at)).filter((w) => w.participantId === participantId);
      return inWindows(windows, participantId, measuredAt);
    },
  };

  return {
    consent,

    async grantConsent(input) {
      const c = parseInput(ConsentInput, input);
      const recordedAt = now();
      if (c.grantedAt > recordedAt) throw new HubError('VALIDATION_FAILED', 'grantedAt: a consent cannot be granted in the future');
      const record: ConsentRecord = { ...c, id: `con-${randomBytes(9).toString('base64url')}`, withdrawnAt: null, recordedAt };
      await sql.transaction(async (tx) => {
        const [p] = await tx.query<{ erased_at: number | null; status: TrialStatus }>(
          'SELECT p.erased_at, t.status FROM participants p JOIN trials t ON t.id = p.trial_id WHERE p.id = $1',
          [c.participantId],
        );
        if (!p) throw notFound('participant', c.participantId);
        if (p.erased_at !== null) throw new HubError('CONFLICT', `participant "${c.participantId}" was erased`);
        if (!isOpen(p.status)) throw new HubError('CONFLICT', `the participant's trial is ${p.status}; consents are granted while it is planned or running`);
        await tx.query(`INSERT INTO consents (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
          record.id,
          record.participantId,
          record.scope,
          record.grantedAt,
          null,
          record.formVersion,
          record.recordedAt,
        ]);
      });
      return record;
    },

    async withdrawConsent(id, at) {
      if (!Number.isSafeInteger(at)) throw new HubError('VALIDATION_FAILED', 'withdrawnAt: epoch milliseconds');
      if (at > now()) throw new HubError('VALIDATION_FAILED', 'withdrawnAt: a withdrawal cannot be dated in the future');
      return sql.transaction(async (tx) => {
        const [row] = await tx.query<ConsentRow>(`SELECT ${COLUMNS} FROM consents WHERE id = $1`, [id]);
        if (!row) throw notFound('consent', id);
        const record = toConsent(row);
        // The first withdrawal stands; withdrawing again changes nothing.
        if (record.withdrawnAt !== null) return record;
        const withdrawnAt = Math.max(at, record.grantedAt);
        await tx.query('UPDATE consents SET withdrawn_at = $1 WHERE id = $2', [withdrawnAt, id]);
        return { ...record, withdrawnAt };
      });
    },

    async listConsents(participantId) {
      return (await sql.query<ConsentRow>(`SELECT ${COLUMNS} FROM consents WHERE participant_id = $1 ORDER BY granted_at, id`, [participantId])).map(toConsent);
    },
  };
}
