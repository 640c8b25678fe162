import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Where the numbers come from: each service passes what it runs (the all-in-one hub all of
 * them). Read at scrape time, so the hot paths keep their own counters and pay nothing for
 * an exposition nobody reads.
 */
export interface MetricSources {
  readonly ingest?: () => {
    readonly accepted: number;
    readonly rejectedByCode: Readonly<Partial<Record<string, number>>>;
    readonly acknowledged: number;
    readonly duplicates: number;
    readonly failedMessages: number;
  };
  /** The journal (all-in-one) or outbox (split ingest) in front of the store. */
  readonly journal?: () => { readonly waitingBytes: number; readonly setAsideMessages: number; readonly storeFailing: boolean };
  readonly broker?: () => { readonly connections: number; readonly inFlight: number; readonly heldConnections: number };
  /** Alert codes of the alarms open now (raised or acknowledged). */
  readonly openAlarms?: () => Promise<readonly string[]>;
}

/** The hub's metrics in a registry of their own (no process-wide default registry). */
export interface HubMetrics {
  readonly registry: Registry;
  /** A message committed (its PUBACK may go out) this long after it was received. */
  committed(receivedAt: number, now?: number): void;
  /** A CONNECT refused, by CONNACK return code (MQTT 3.1.1 section 3.2.2.3). */
  loginRefused(returnCode: number): void;
  /** A dataset export answered, with its HTTP status and how long it took. */
  exported(status: number, seconds: number): void;
  /** Counts the live streams (ward boards) open at scrape time. */
  countLiveStreams(read: () => number): void;
}

// Commits wait for the journal's O_DSYNC write and the group commit: milliseconds, with
// seconds only under backpressure or a full disk.
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const EXPORT_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** A counter whose value is another module's running total, read at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      this.reset();
      if (v !== undefined) this.inc(v);
    },
  });
}

export function createHubMetrics(sources: MetricSources): HubMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { ingest, journal, broker } = sources;

  if (ingest) {
    mirroredCounter(registry, 'arena_messages_accepted_total', 'Device messages accepted (stored as readings and events).', () => ingest().accepted);
    mirroredCounter(
      registry,
      'arena_messages_acknowledged_total',
      'Device messages committed, so that their PUBACK could go out.',
      () => ingest().acknowledged,
    );
    mirroredCounter(registry, 'arena_messages_duplicate_total', 'Redelivered messages recognised and stored once.', () => ingest().duplicates);
    mirroredCounter(
      registry,
      'arena_messages_failed_total',
      'Messages whose commit failed (not acknowledged; the device resends).',
      () => ingest().failedMessages,
    );
    new Counter({
      name: 'arena_messages_rejected_total',
      help: 'Device messages rejected, by rejection code (kept with their reason, shown to the vendor).',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(ingest().rejectedByCode)) if (n) this.inc({ code }, n);
      },
    });
  }
  const commitLatency = new Histogram({
    name: 'arena_commit_latency_seconds',
    help: 'From a message received to its commit (when its PUBACK may go out).',
    buckets: COMMIT_BUCKETS,
    registers: [registry],
  });

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  if (journal) {
    gauge('arena_journal_waiting_bytes', 'Bytes acknowledged to devices and not yet in the store.', () => journal().waitingBytes);
    gauge('arena_journal_set_aside_messages', 'Messages set aside in the dead letter file, waiting to be requeued.', () => journal().setAsideMessages);
    gauge('arena_store_failing', '1 while the store refuses writes (an outage the hub reports and recovers from).', () => (journal().storeFailing ? 1 : 0));
  }
  if (broker) {
    gauge('arena_mqtt_connections', 'MQTT clients connected now.', () => broker().connections);
    gauge('arena_mqtt_publishes_in_flight', 'Publishes being handled now (received, not yet acknowledged).', () => broker().inFlight);
    gauge('arena_mqtt_held_connections', 'Connections whose reads are held at the in-flight bound.', () => broker().heldConnections);
  }
  const refusals = new Counter({
    name: 'arena_mqtt_login_refusals_total',
    help: 'CONNECTs refused, by CONNACK return code (2 identifier, 3 unavailable, 4 bad credentials, 5 not authorised or throttled).',
    labelNames: ['return_code'],
    registers: [registry],
  });
  const openAlarms = sources.openAlarms;
  if (openAlarms) {
    new Gauge({
      name: 'arena_alarms_open',
      help: 'Alarms raised or acknowledged and not yet closed, by VKP alert code.',
      labelNames: ['alert_code'],
      registers: [registry],
      async collect() {
        const codes = await openAlarms();
        this.reset();
        for (const code of codes) this.inc({ alert_code: code });
      },
    });
  }
  const exports = new Counter({
    name: 'arena_dataset_exports_total',
    help: 'Dataset exports answered, by HTTP status.',
    labelNames: ['status'],
    registers: [registry],
  });
  const exportSeconds = new Histogram({
    name: 'arena_dataset_export_duration_seconds',
    help: 'How long a dataset export took, from the request to the last byte sent.',
    buckets: EXPORT_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    committed: (receivedAt, now = Date.now()) => commitLatency.observe(Math.max(0, now - receivedAt) / 1000),
    loginRefused: (returnCode) => refusals.inc({ return_code: String(returnCode) }),
    exported(status, seconds) {
      exports.inc({ status: String(status) });
      exportSeconds.observe(seconds);
    },
    countLiveStreams(read) {
      new Gauge({
        name: 'arena_live_streams',
        help: 'Live streams (ward boards) open now.',
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    },
  };
}
