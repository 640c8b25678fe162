import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Alarm } from '../kernel/alarms.js';
import type { ConsentReader, ConsentScope } from '../kernel/consent.js';
import { isHubError } from '../kernel/errors.js';
import type { Logger } from '../kernel/log.js';
import type { Catalogue } from '../kernel/measurements.js';
import type { Pseudonymiser } from '../kernel/pseudonym.js';
import type { Reading } from '../kernel/telemetry.js';
import { transaction } from './bundle.js';
import { toFlag } from './flag.js';
import { toObservation } from './observation.js';
import { openPushQueue } from './push-queue.js';
import type { Bundle } from './types.js';

export interface PushSettings {
  /** The receiving FHIR server's base URL: transactions are POSTed to it (FHIR R4 §3.1.0.11). */
  readonly url: string;
  readonly token: string | undefined;
  /** Whose data is sent, and under which pseudonyms: a clinical record (care.live) or a research store (research). */
  readonly audience: Extract<ConsentScope, 'care.live' | 'research'>;
  readonly maxBytes: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
}

export interface PushOptions {
  readonly settings: PushSettings;
  /** Where the queue lives (the data folder's fhir-push/). */
  readonly dir: string;
  readonly consent: ConsentReader;
  readonly pseudonym: Pseudonymiser;
  readonly subjectSystem: string;
  readonly catalogue: () => Catalogue;
  readonly logger: Logger;
}

/**
 * A queued entry: the bundle, with whom and when it is about, so that the consent rule is
 * asked again when its turn comes. The queue lives in the hub's data folder, like the journal.
 */
interface Queued {
  readonly participantId: string;
  readonly at: number;
  readonly bundle: Bundle;
}

export type PushItem = { readonly kind: 'reading'; readonly reading: Reading } | { readonly kind: 'alarm'; readonly alarm: Alarm };

export interface PushStatus {
  readonly waiting: number;
  readonly waitingBytes: number;
  readonly sent: number;
  /** Items refused because the queue was full (each logged with PUSH_QUEUE_FULL). */
  readonly refused: number;
  /** Queued entries not sent because their participant's consent no longer held when their turn came. */
  readonly withheld: number;
  readonly failingSince: string | null;
  readonly lastError: string | null;
}

export interface FhirPush {
  /** Takes a committed reading or alarm change; synchronous, so the caller's order is the queue's. */
  offer(item: PushItem): void;
  status(): PushStatus;
  /** Queues what was offered, lets a request in flight finish, and stops. */
  close(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Sends each committed reading and each alarm change about a participant who consented
 * to the push's audience, at the time it was measured or raised and still now, as one
 * FHIR transaction Bundle to the configured server, through a durable queue
 * (fhir/push-queue.ts): in order, one at a time, the head retried with exponential
 * backoff (retryMinMs doubling up to retryMaxMs) until the server answers 2xx. Nothing
 * is lost while the server is down, also across a restart; an entry whose participant
 * withdrew (or was erased) while it waited is withheld, not sent; a full queue refuses new
 * items with PUSH_QUEUE_FULL in the log and the refused count (their data stays in the
 * hub, readable through /fhir). Device data and alarms without a participant are not
 * pushed: the receiving record is about people.
 */
export function startFhirPush(o: PushOptions): FhirPush {
  const { settings, logger } = o;
  const queue = openPushQueue(o.dir, settings.maxBytes);
  const log = logger.child({ component: 'fhir-push' });
  let sent = 0;
  let refused = 0;
  let withheld = 0;
  let failingSince: number | null = null;
  let lastError: string | null = null;
  let chain: Promise<void> = Promise.resolve();
  const stop = new AbortController();
  let wake: (() => void) | undefined;

  // Fail closed, as every consent check: an error is a no.
  const allows = (participantId: string, at: number, now: number): Promise<boolean> =>
    o.consent.allows(participantId, settings.audience, at, now).catch(() => false);

  async function queued(item: PushItem, now: number): Promise<Queued | undefined> {
    const { participantId, trialId } = item.kind === 'reading' ? item.reading : item.alarm;
    const at = item.kind === 'reading' ? item.reading.deviceTime : item.alarm.raisedAt;
    if (participantId === null || trialId === null || !(await allows(participantId, at, now))) return undefined;
    const subject = { system: o.subjectSystem, value: o.pseudonym(trialId, settings.audience, participantId) };
    const catalogue = o.catalogue();
    // Clinicians see the hub's alarm ids beside the participant; a research store gets a reference made like a pseudonym (as datasets do).
    const alarmRef = (id: string): string => (settings.audience === 'care.live' ? id : o.pseudonym(trialId, settings.audience, `alarm:${id}`));
    const resource =
      item.kind === 'reading'
        ? toObservation(item.reading, catalogue.measurements.get(item.reading.name), subject)
        : toFlag(item.alarm, { subject, event: catalogue.events.get(item.alarm.event), alarmRef: alarmRef(item.alarm.id) });
    const bundle = { ...transaction([resource]), identifier: { system: 'urn:arena-hub:push', value: randomUUID() } };
    return { participantId, at, bundle };
  }

  function enqueue(entry: Queued): void {
    try {
      queue.append([JSON.stringify(entry)]);
      wake?.();
    } catch (e) {
      if (!isHubError(e) || e.code !== 'PUSH_QUEUE_FULL') throw e;
      refused++;
      log.error({ code: e.code, detail: e.detail }, 'FHIR push queue full: item not queued');
    }
  }

  async function send(entry: string): Promise<void> {
    const res = await fetch(settings.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        ...(settings.token ? { authorization: `Bearer ${settings.token}` } : {}),
      },
      body: entry,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`the FHIR server answered ${res.status}`);
  }

  const sender = (async () => {
    let attempt = 0;
    while (!stop.signal.aborted) {
      const entry = queue.peek();
      if (entry === undefined) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stop.signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          wake = done;
          stop.signal.addEventListener('abort', done);
        });
        continue;
      }
      try {
        const { participantId, at, bundle } = JSON.parse(entry) as Queued;
        // Asked again at sending: a withdrawal (or erasure) while the entry waited stops its release.
        if (!(await allows(participantId, at, Date.now()))) {
          queue.delivered();
          withheld++;
          log.warn({ waiting: queue.waiting }, 'FHIR push: an entry was withheld, its consent no longer holds');
          continue;
        }
        await send(JSON.stringify(bundle));
        queue.delivered();
        sent++;
        attempt = 0;
        if (failingSince !== null) log.info({ since: new Date(failingSince).toISOString() }, 'FHIR server takes pushes again');
        failingSince = null;
      } catch (e) {
        lastError = (e as Error).message;
        if (failingSince === null) {
          failingSince = Date.now();
          log.warn({ err: lastError, waiting: queue.waiting }, 'FHIR push failed; retrying with backoff');
        }
        const delay = Math.min(settings.retryMaxMs, settings.retryMinMs * 2 ** attempt++);
        await sleep(delay, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    }
  })();

  return {
    offer(item) {
      const now = Date.now();
      chain = chain.then(async () => {
        const entry = await queued(item, now);
        if (entry) enqueue(entry);
      });
      chain = chain.catch((err) => log.error({ err }, 'FHIR push: an item could not be queued'));
    },
    status: () => ({
      waiting: queue.waiting,
      waitingBytes: queue.waitingBytes,
      sent,
      refused,
      withheld,
      failingSince: failingSince === null ? null : new Date(failingSince).toISOString(),
      lastError,
    }),
    async close() {
      await chain;
      stop.abort();
      await sender;
      queue.close();
    },
  };
}
