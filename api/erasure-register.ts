import { createHmac } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { eraseEverywhere, type ErasureRegister, type ErasureTargets } from './erasure.js';
import type { Logger } from '../kernel/log.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { Registry } from '../kernel/registry.js';

interface Entry {
  readonly h: string;
  readonly at: number;
  readonly done: boolean;
}

const APPEND_DURABLY = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_APPEND | fsConstants.O_DSYNC;

/**
 * The erasure register on a file in the data folder (the interface and why: api/erasure.ts).
 * It must not itself be a list of participant ids: each entry is an HMAC of the id under
 * a key derived from the pseudonym key (api/pseudonym-key.ts), with the erasure time.
 */
export async function openErasureRegister(file: string, pseudonymKey: Buffer): Promise<ErasureRegister> {
  // A key of its own (domain-separated): the register's hashes are not any audience's pseudonyms.
  const key = createHmac('sha256', pseudonymKey).update('arena-hub erasure register v1').digest();
  const hash = (participantId: string): string => createHmac('sha256', key).update(participantId).digest('hex');
  const entries = new Map<string, { at: number; done: boolean }>();
  const note = (e: Entry): void => {
    const had = entries.get(e.h);
    entries.set(e.h, { at: had ? Math.min(had.at, e.at) : e.at, done: (had?.done ?? false) || e.done === true });
  };
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    // none yet
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      note(JSON.parse(line) as Entry);
    } catch {
      // a line torn by a crash: its erasure was not confirmed to anyone
    }
  }
  const append = async (e: Entry): Promise<void> => {
    const fh = await open(file, APPEND_DURABLY, 0o600);
    try {
      await fh.write(`${JSON.stringify(e)}\n`);
    } finally {
      await fh.close();
    }
    note(e);
  };
  return {
    begin: (participantId, at) => append({ h: hash(participantId), at, done: false }),
    done: (participantId, at) => append({ h: hash(participantId), at, done: true }),
    find: (participantId) => entries.get(hash(participantId)),
  };
}

/**
 * At start: erases again every participant of the registry the register knows as erased
 * when the registry has not recorded that erasure (a restored backup), when it never
 * completed (a crash), or when their points are back (a backup of the telemetry taken
 * between the two). Returns whom it erased.
 */
export async function reapplyErasures(
  t: ErasureTargets & { readonly registry: Pick<Registry, 'listTrials' | 'listParticipants' | 'markErased'>; readonly register: ErasureRegister },
  log: Logger,
): Promise<string[]> {
  const again: string[] = [];
  for (const trial of await t.registry.listTrials()) {
    for (const p of await t.registry.listParticipants(trial.id)) {
      const entry = t.register.find(p.id);
      if (!entry) continue;
      if (entry.done && p.erasedAt !== null && !(await hasPoints(t.store, p.id))) continue;
      await eraseEverywhere(t, p.id, entry.at);
      again.push(p.id);
    }
  }
  // Counts only: the ids are what erasure removes.
  if (again.length > 0)
    log.warn({ participants: again.length }, 'erasures recorded in the erasure register were applied again (restored backup or interrupted erasure)');
  return again;
}

async function hasPoints(store: TelemetryStore, participantId: string): Promise<boolean> {
  const everything = { participantId, from: -8.64e15, to: 8.64e15 };
  for await (const _ of store.points({ release: { windows: [everything], includeDeviceData: false }, limit: 1 })) return true;
  return false;
}
