import { Aedes, type Client } from 'aedes';
import { correctSessionPresent, patchPersistence, persistenceOf } from './aedes-compat.js';
import { HubError } from '../kernel/errors.js';
import type { Logger } from '../kernel/log.js';
import { createAuthenticator, clip } from './authenticate.js';
import type { CertificateIdentity } from './certificate.js';
import { DEFAULT_CONNECTIONS, DEFAULT_PUBLISH_RATE, DEFAULT_QUOTA } from './config.js';
import { createAuthorizer } from './authorize.js';
import { createHandoff, type Handoff } from './handoff.js';
import { createInFlight, DEFAULT_IN_FLIGHT } from './in-flight.js';
import { createListeners, readGateOf } from './listen.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle } from './login-throttle.js';
import { Quotas, type QuotaLimits } from './rate-limit.js';
import { memorySessions } from './sessions.js';
import { deviceTopics } from './topics.js';
import type { BrokerDeps, HubBroker } from './types.js';
import { watchTraffic } from './traffic.js';

export type { Admission, BrokerDeps, BrokerLimits, BrokerRejectionCode, HubBroker, ListenOptions, ListeningPorts, RejectSink } from './types.js';

/**
 * The hub's MQTT broker: aedes with deny-by-default hooks. Devices log in with their id
 * and secret, publish only on their own profile topics and hear only their own command
 * topic; an optional read-only service account may listen to all device topics and,
 * in the split layout, takes the handoff to ingest (broker/handoff.ts).
 */
export async function createBroker(deps: BrokerDeps): Promise<HubBroker> {
  if (deps.handoff && (deps.sink || deps.reject)) throw new HubError('CONFIG_INVALID', 'a broker hands off to ingest or has a sink, not both');
  const log = deps.logger.child({ component: 'broker' });
  const topics = deviceTopics(deps.profiles);
  const connections = { ...DEFAULT_CONNECTIONS, ...deps.connections };
  const remotes = new WeakMap<Client, string>();
  const certificates = new WeakMap<Client, CertificateIdentity>();
  const throttle = new LoginThrottle({ ...DEFAULT_LOGIN_THROTTLE, ...deps.loginThrottle });
  const auth = await createAuthenticator(
    deps,
    log,
    { remoteOf: (client) => remotes.get(client), certificateOf: (client) => certificates.get(client) },
    throttle,
    deps.sessions ?? memorySessions(),
  );

  // The handoff needs the aedes instance, which needs the hooks: it is set right after
  // aedes exists, before anything listens.
  let handoff: Handoff | undefined;
  const outlets: Pick<BrokerDeps, 'sink' | 'reject'> = deps.handoff
    ? { sink: (m) => handoff!.sink(m), reject: (...args) => handoff!.reject(...args) }
    : admitted(deps, log);
  const quotas = createQuotas(deps);
  const inFlight = createInFlight({ ...DEFAULT_IN_FLIGHT, ...deps.inFlight }, (client) => readGateOf((client as Client).conn));
  const authz = createAuthorizer(
    { ...outlets, limits: deps.limits, directory: deps.directory, redactCommitted: deps.redactCommitted },
    auth.principalOf,
    topics,
    quotas,
    inFlight,
    log,
  );

  // Set once aedes exists (broker/traffic.ts); only a broker with deps.traffic wraps the hook.
  let observePublish: ((client: Client | null, packet: Parameters<typeof authz.authorizePublish>[1]) => void) | undefined;
  const authorizePublish: typeof authz.authorizePublish = deps.traffic
    ? (client, packet, callback) => {
        observePublish?.(client, packet);
        authz.authorizePublish(client, packet, callback);
      }
    : authz.authorizePublish;
  const aedes = await Aedes.createBroker({
    // aedes passes this to mqemitter, which queues emits beyond it and, when the in-flight
    // ones finish, runs the queued ones synchronously one inside the next: under an
    // open-ended burst with a slow subscriber that recursion overflows the stack and ends
    // the process (aedes issue #193, reproduced here with the split layout's handoff).
    // 0 = no such queue. What bounds in-flight work instead is upstream: the publishes
    // being handled are counted and a connection's reads held at a bound (in-flight.ts),
    // and ingest's group commit has a bounded queue.
    concurrency: 0,
    maxTopicLevels: deps.limits.maxTopicLevels,
    connectTimeout: connections.connectTimeoutMs,
    ...(deps.persistence ? { persistence: deps.persistence } : {}),
    ...(deps.mq ? { mq: deps.mq } : {}),
    preConnect: auth.preConnect,
    authenticate: auth.authenticate,
    authorizePublish,
    authorizeSubscribe: authz.authorizeSubscribe,
    authorizeForward: authz.authorizeForward,
  });
  const persistence = persistenceOf(aedes);
  patchPersistence(persistence, authz.filterAllowed);
  if (deps.handoff) handoff = createHandoff(aedes, persistence);
  aedes.on('client', auth.registered);
  if (deps.traffic) observePublish = watchTraffic(aedes, auth.principalOf, auth.connectOf, deps.traffic);
  aedes.on('clientDisconnect', (client) => {
    auth.disconnected(client);
    authz.disconnected(client);
  });
  aedes.on('clientError', (client, err) =>
    log.info({ event: 'client_error', clientId: clip(client.id), remote: remotes.get(client), reason: err.message }, 'client connection closed on error'),
  );
  aedes.on('connectionError', (client, err) =>
    log.info({ event: 'connection_error', remote: remotes.get(client), reason: err.message }, 'connection closed before CONNECT completed'),
  );
  // aedes emits 'error' when its persistence fails; unheard, that would end the process.
  (aedes as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err, event: 'broker_error' }, 'broker persistence error'));

  const listeners = createListeners(
    (conn, { remote, req, certificate }) => {
      const client = aedes.handle(conn, req);
      if (remote) remotes.set(client, remote);
      if (certificate) certificates.set(client, certificate);
      correctSessionPresent(conn, () => auth.sessionPresent(client));
    },
    { maxPacketBytes: deps.limits.maxPacketBytes, maxTopicBytes: deps.limits.maxTopicLength, maxConnections: connections.maxConnections },
    log,
    deps.tls,
  );

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const stopped = listeners.stop();
    // Closing clients publishes their wills (aedes, [MQTT-3.1.2-8]); those still reach
    // the sink, which is why in-flight hook calls are awaited below.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    listeners.destroyAll();
    await authz.settled();
    await stopped;
    log.info({ event: 'closed' }, 'broker closed');
  }

  return {
    aedes,
    async listen(opts) {
      const ports = await listeners.listen(opts);
      log.info({ event: 'listening', host: opts.host, ...ports }, 'broker listening');
      return ports;
    },
    close: () => (closing ??= close()),
    quotaStats: () => quotas.quotas.stats(),
    loadStats: () => {
      const { inFlight: publishes, held } = inFlight.stats();
      return { connections: aedes.connectedClients, inFlight: publishes, heldConnections: held };
    },
  };
}

/**
 * The quotas with their defaults applied once, and each profile's own (its `quota:`
 * section) resolved once per loaded version: the latest version of a profile decides.
 */
function createQuotas(deps: BrokerDeps): { quotas: Quotas; deviceQuota(profileId: string): QuotaLimits } {
  const rate = { ...DEFAULT_PUBLISH_RATE, ...deps.publishRate };
  const q = { ...DEFAULT_QUOTA, ...deps.quota };
  const device: QuotaLimits = { messages: { perSecond: rate.perSecond, burst: rate.burst }, bytes: q.deviceBytes };
  const quotas = new Quotas({ device, vendor: q.vendor, disconnectAfterMs: q.disconnectAfterMs, maxEntries: rate.maxEntries });
  const byVersion = new WeakMap<object, QuotaLimits>();
  const deviceQuota = (profileId: string): QuotaLimits => {
    const decoder = deps.profiles.get(profileId);
    const own = decoder?.profile.quota;
    if (!decoder || !own) return device;
    let limits = byVersion.get(decoder);
    if (!limits) {
      limits = {
        messages: { perSecond: own.messagesPerSecond ?? device.messages.perSecond, burst: own.messageBurst ?? device.messages.burst },
        bytes: { perSecond: own.bytesPerSecond ?? device.bytes.perSecond, burst: own.byteBurst ?? device.bytes.burst },
      };
      byVersion.set(decoder, limits);
    }
    return limits;
  };
  return { quotas, deviceQuota };
}

/**
 * The sink and reject outlets, each waiting while admission is closed (a full disk): the
 * message is neither stored nor acknowledged until it opens, and the device keeps it.
 */
function admitted(deps: BrokerDeps, log: Logger): Pick<BrokerDeps, 'sink' | 'reject'> {
  const { admission, sink, reject } = deps;
  if (!admission) return { sink, reject };
  let waiting = 0;
  const open = async (deviceId: string): Promise<void> => {
    const reason = admission.closedBecause();
    if (reason === undefined) return;
    if (waiting++ === 0) log.warn({ event: 'admission_closed', deviceId, reason }, 'holding messages without PUBACK');
    try {
      await admission.whenOpen();
    } finally {
      if (--waiting === 0) log.info({ event: 'admission_open' }, 'taking messages again');
    }
  };
  return {
    sink: sink && (async (m) => (await open(m.deviceId), sink(m))),
    reject: reject && (async (deviceId, ...rest) => (await open(deviceId), reject(deviceId, ...rest))),
  };
}
