import type { TelemetryStore } from '../kernel/ports.js';
import type { Registry } from '../kernel/registry.js';

/**
 * Which participants were erased, so that a hub restored from an older backup erases
 * them again at start (api/erasure-register.ts). An entry is written before an erasure
 * starts and marked done after it ends, so an erasure cut short by a crash is finished
 * at the next start too.
 */
export interface ErasureRegister {
  /** Before erasing: from now on the participant is erased again at every start until done. */
  begin(participantId: string, at: number): Promise<void>;
  done(participantId: string, at: number): Promise<void>;
  /** The register's entry for a participant, if any; `done` once any erasure of theirs completed. */
  find(participantId: string): { at: number; done: boolean } | undefined;
}

export interface ErasureTargets {
  readonly registry: Pick<Registry, 'markErased'>;
  readonly store: TelemetryStore;
  readonly alarms?: { eraseParticipant(participantId: string): Promise<number> } | undefined;
  /** Grafana's consent-filtered bucket (stores/influx/grafana-mirror.ts), in the split layout. */
  readonly grafana?: { forget(participantId: string): Promise<void> } | undefined;
  readonly register?: ErasureRegister | undefined;
  /** Rewrites the registry's file, where the alarms and their comments were (stores/duckdb/sql-client.ts compact()). */
  readonly compactRegistry?: (() => Promise<void>) | undefined;
}

/**
 * Every copy the hub keeps, for one participant: the registry ends their assignments,
 * the telemetry store loses their points and their rejections' payloads (the journal and
 * the DuckDB file are rewritten), the alarm engine their alarms (memory and tables),
 * Grafana's bucket their points, and the registry file is rewritten. The register entry
 * comes first and is marked done last. Calling it again erases whatever is left
 * (normally nothing).
 */
export async function eraseEverywhere(
  t: ErasureTargets,
  participantId: string,
  at: number,
): Promise<{ erasedPoints: number; erasedAlarms: number; erasedAt: number }> {
  await t.register?.begin(participantId, at);
  const marked = await t.registry.markErased(participantId, at);
  const erasedPoints = await t.store.eraseParticipant(participantId);
  const erasedAlarms = (await t.alarms?.eraseParticipant(participantId)) ?? 0;
  await t.grafana?.forget(participantId);
  await t.compactRegistry?.();
  await t.register?.done(participantId, at);
  return { erasedPoints, erasedAlarms, erasedAt: marked.erasedAt ?? at };
}
