import type { Logger } from 'pino';
import { HUB_ACTOR, isOpen, type Alarm, type LiveMessage } from '../kernel/alarms.js';
import { HubError } from '../kernel/errors.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { SqlClient } from '../kernel/sql.js';
import { datasetBatch, type Transition } from './dataset-events.js';
import { close, openAlarm, retrigger } from './lifecycle.js';
import type { DeviceMemory, RaiseSignal, Signal } from './rules/types.js';
import { MARK, setMeta, upsertAlarm, upsertDevice } from './store.js';

export interface LedgerDeps {
  readonly sql: SqlClient;
  readonly store: TelemetryStore;
  readonly log: Logger;
  readonly now: () => number;
  readonly newId: () => string;
  readonly publish: (message: LiveMessage) => void;
  readonly deviceState: (deviceId: string) => DeviceMemory | undefined;
  /** How long closed alarms stay in memory to recognise redeliveries and once-keys. */
  readonly retentionMs: number;
}

/**
 * Alarm state in memory, written behind to SQL. A change is applied and broadcast at
 * once and made durable by the next flush; flushes run one at a time, each writing
 * the latest version of every changed row with the evaluation mark in one transaction.
 */
export class AlarmLedger {
  readonly #d: LedgerDeps;
  readonly #alarms = new Map<string, Alarm>();
  readonly #openByKey = new Map<string, string>();
  readonly #byKey = new Map<string, string[]>();
  readonly #dirtyAlarms = new Set<string>();
  readonly #dirtyDevices = new Set<string>();
  #transitions: { alarm: Alarm; transition: Transition; at: number }[] = [];
  #tail: Promise<unknown> = Promise.resolve();
  #scheduled: Promise<void> | null = null;
  #mark: () => number = () => 0;
  #written: number | null = null;
  #closed = false;

  constructor(deps: LedgerDeps) {
    this.#d = deps;
  }

  load(alarms: readonly Alarm[]): void {
    for (const a of alarms) this.#remember(a);
  }

  /** Where evaluation has got to; stored with each flush, replayed from after a restart. */
  setMark(mark: () => number): void {
    this.#mark = mark;
  }

  get(id: string): Alarm | undefined {
    return this.#alarms.get(id);
  }

  open(): Alarm[] {
    return [...this.#openByKey.values()].map((id) => this.#alarms.get(id)!);
  }

  apply(s: Signal): void {
    const openId = this.#openByKey.get(s.key);
    const current = openId === undefined ? undefined : this.#alarms.get(openId);
    if (s.type === 'clear') {
      if (current) this.commit(close(current, 'resolved', HUB_ACTOR, s.reason, s.at), 'resolved');
      return;
    }
    if (current) {
      if (s.source === null || !current.sources.includes(s.source)) this.commit(retrigger(current, s));
      return;
    }
    if (this.#seenBefore(s)) return;
    this.commit(openAlarm(this.#d.newId(), s), 'raised');
  }

  /** Stores a new version of an alarm and broadcasts it; a transition also goes to datasets. */
  commit(a: Alarm, transition?: Transition): void {
    this.#remember(a);
    this.#dirtyAlarms.add(a.id);
    if (transition) this.#transitions.push({ alarm: a, transition, at: a.updatedAt });
    this.#d.publish({ kind: 'alarm', alarm: a });
  }

  deviceTouched(deviceId: string): void {
    this.#dirtyDevices.add(deviceId);
  }

  hasPending(): boolean {
    return this.#dirtyAlarms.size > 0 || this.#transitions.length > 0;
  }

  prune(now: number): void {
    for (const [id, a] of this.#alarms) {
      if (!isOpen(a.state) && a.updatedAt < now - this.#d.retentionMs && !this.#dirtyAlarms.has(id)) this.#forget(a);
    }
  }

  forgetParticipant(participantId: string): void {
    for (const a of [...this.#alarms.values()]) if (a.participantId === participantId) this.#forget(a);
    this.#transitions = this.#transitions.filter((t) => t.alarm.participantId !== participantId);
  }

  /** Runs fn after every write queued before it. */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new HubError('STORE_UNAVAILABLE', 'the alarm engine is closed'));
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  flush(): Promise<void> {
    if (this.#scheduled) return this.#scheduled;
    const run = this.enqueue(async () => {
      this.#scheduled = null;
      await this.#write();
    });
    this.#scheduled = run;
    return run;
  }

  /** flush(), reporting a failure as the store being unavailable; the change stays queued for the next try. */
  flushOrFail(): Promise<void> {
    return this.flush().catch((e: unknown) => {
      throw new HubError('STORE_UNAVAILABLE', 'the alarm change is kept and will be stored when the database answers', { cause: e });
    });
  }

  close(): void {
    this.#closed = true;
  }

  #seenBefore(s: RaiseSignal): boolean {
    const earlier = (this.#byKey.get(s.key) ?? []).map((id) => this.#alarms.get(id)!);
    // Once-keys never reopen; a redelivered message (same id and seq) never opens a second alarm.
    return earlier.some((a) => s.once === true || (s.source !== null && a.sources.includes(s.source)));
  }

  #remember(a: Alarm): void {
    if (!this.#alarms.has(a.id)) this.#byKey.set(a.key, [...(this.#byKey.get(a.key) ?? []), a.id]);
    this.#alarms.set(a.id, a);
    if (isOpen(a.state)) this.#openByKey.set(a.key, a.id);
    else if (this.#openByKey.get(a.key) === a.id) this.#openByKey.delete(a.key);
  }

  #forget(a: Alarm): void {
    this.#alarms.delete(a.id);
    this.#dirtyAlarms.delete(a.id);
    if (this.#openByKey.get(a.key) === a.id) this.#openByKey.delete(a.key);
    const rest = (this.#byKey.get(a.key) ?? []).filter((id) => id !== a.id);
    if (rest.length > 0) this.#byKey.set(a.key, rest);
    else this.#byKey.delete(a.key);
  }

  async #write(): Promise<void> {
    const alarmIds = [...this.#dirtyAlarms];
    const deviceIds = [...this.#dirtyDevices];
    const transitions = this.#transitions;
    this.#dirtyAlarms.clear();
    this.#dirtyDevices.clear();
    this.#transitions = [];
    const mark = this.#mark();
    // Nothing changed since the last write: no transaction every tick on an idle ward.
    if (alarmIds.length + deviceIds.length + transitions.length === 0 && mark === this.#written) return;
    const at = this.#d.now();
    try {
      await this.#d.sql.transaction(async (tx) => {
        for (const id of alarmIds) {
          const a = this.#alarms.get(id);
          if (a) await upsertAlarm(tx, a);
        }
        for (const id of deviceIds) {
          const m = this.#d.deviceState(id);
          if (m) await upsertDevice(tx, m, at);
        }
        await setMeta(tx, MARK, String(mark));
      });
    } catch (e) {
      for (const id of alarmIds) this.#dirtyAlarms.add(id);
      for (const id of deviceIds) this.#dirtyDevices.add(id);
      this.#transitions = [...transitions, ...this.#transitions];
      throw e;
    }
    this.#written = mark;
    const batch = datasetBatch(transitions);
    if (!batch) return;
    // Exactly-once by message id in the store, so a retry after a failure stores nothing twice.
    await this.#d.store.write(batch).catch((err: unknown) => {
      this.#d.log.error({ err }, 'could not write alarm events for datasets; will retry');
      this.#transitions = [...transitions, ...this.#transitions];
    });
  }
}
