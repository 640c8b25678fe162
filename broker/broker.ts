import { Aedes, type Client } from 'aedes';
import { createAuthenticator, clip } from './authenticate.js';
import { createAuthorizer } from './authorize.js';
import { createListeners } from './listen.js';
import { deviceTopics } from './topics.js';
import type { BrokerDeps, HubBroker } from './types.js';

export type { BrokerDeps, BrokerLimits, BrokerRejectionCode, HubBroker, ListenOptions, RejectSink } from './types.js';

/**
 * The hub's MQTT broker: aedes with deny-by-default hooks. Devices log in with their id
 * and secret, publish only on their own profile topics and hear only their own command
 * topic; an optional read-only service account may listen to all device topics.
 */
export async function createBroker(deps: BrokerDeps): Promise<HubBroker> {
  const log = deps.logger.child({ component: 'broker' });
  const topics = deviceTopics(deps.profiles);
  const remotes = new WeakMap<Client, string>();
  const auth = await createAuthenticator(deps, log, (client) => remotes.get(client));
  const authz = createAuthorizer(deps, auth.principalOf, topics, log);

  const aedes = await Aedes.createBroker({
    maxTopicLevels: deps.limits.maxTopicLevels,
    preConnect: auth.preConnect,
    authenticate: auth.authenticate,
    authorizePublish: authz.authorizePublish,
    authorizeSubscribe: authz.authorizeSubscribe,
    authorizeForward: authz.authorizeForward,
  });
  aedes.on('client', auth.registered);
  aedes.on('clientDisconnect', auth.disconnected);
  aedes.on('clientError', (client, err) =>
    log.info({ event: 'client_error', clientId: clip(client.id), remote: remotes.get(client), reason: err.message }, 'client connection closed on error'),
  );
  aedes.on('connectionError', (client, err) =>
    log.info({ event: 'connection_error', remote: remotes.get(client), reason: err.message }, 'connection closed before CONNECT completed'),
  );

  const listeners = createListeners(
    (conn, { remote, req }) => {
      const client = aedes.handle(conn, req);
      if (remote) remotes.set(client, remote);
    },
    deps.limits.maxPacketBytes,
    log,
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
  };
}
