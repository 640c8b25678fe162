import type { AedesOptions, AuthenticateError, Client, ConnectPacket } from 'aedes';
import { createHash } from 'node:crypto';
import { SafeId } from '../kernel/ids.js';
import type { Logger } from '../kernel/log.js';
import { hashSecret, newSecret, verifySecret } from '../kernel/secrets.js';
import { commandTopic, publishTopics } from '../device-profiles/load.js';
import { decoderFor } from '../device-profiles/versions.js';
import type { CertificateIdentity } from './certificate.js';
import type { LoginThrottle } from './login-throttle.js';
import { Lru } from './lru.js';
import type { SessionStore } from './sessions.js';
import type { DeviceCredentials } from '../kernel/ports.js';
import type { BrokerDeps } from './types.js';

/** Who a connection authenticated as; bound to the aedes Client for the later hooks. */
export type BrokerPrincipal =
  | {
      readonly kind: 'device';
      readonly deviceId: string;
      readonly profileId: string;
      /** Its vendor, for the vendor-wide quota; unknown to a directory that does not say. */
      readonly vendorId: string | undefined;
      /** The secret hash it logged in with: a publish after a re-key or deactivation is refused. */
      readonly secretHash: string;
      readonly publishTopics: ReadonlySet<string>;
      readonly commandTopic: string;
    }
  | { readonly kind: 'service'; readonly username: string };

// CONNACK return codes, MQTT 3.1.1 section 3.2.2.3, Table 3.1.
type ReturnCode = 2 | 3 | 4 | 5;
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** `known`: the username named a registered device or the service account, so it is no secret. */
type Decision = { ok: true; principal: BrokerPrincipal } | { ok: false; returnCode: ReturnCode; reason: string; known: boolean };
const refuse = (returnCode: ReturnCode, reason: string, known = false): Decision => ({ ok: false, returnCode, reason, known });

/** Log-safe excerpt of a client-chosen string. */
export const clip = (s: string | undefined, max = 80): string | undefined => (s === undefined ? undefined : s.length > max ? `${s.slice(0, max)}…` : s);

/**
 * How a refused username is logged. A username that names no device may be a secret sent
 * in the wrong field (swapped credentials), so it is logged only as a digest prefix and
 * its length: enough to group repeated attempts, nothing to log in with.
 */
export const loggableUsername = (username: string | undefined, known: boolean): string | { sha256: string; length: number } | undefined =>
  username === undefined || known ? clip(username) : { sha256: createHash('sha256').update(username).digest('hex').slice(0, 12), length: username.length };

export interface Authenticator {
  readonly preConnect: NonNullable<AedesOptions['preConnect']>;
  readonly authenticate: NonNullable<AedesOptions['authenticate']>;
  principalOf(client: Client): BrokerPrincipal | undefined;
  /** The CONNECT packet a client sent (keepalive, will, clean session). */
  connectOf(client: Client): ConnectPacket | undefined;
  /** Whether the broker held a session for this (authenticated) client when it connected [MQTT-3.2.2-2]. */
  sessionPresent(client: Client): boolean;
  /** Feed from aedes 'client' / 'clientDisconnect': who holds which client id right now. */
  registered(client: Client): void;
  disconnected(client: Client): void;
}

const principalKey = (p: BrokerPrincipal): string => (p.kind === 'device' ? `device:${p.deviceId}` : `service:${p.username}`);

// Successful checks remembered, so a reconnect storm (every device after a broker
// restart) costs one scrypt per device, not one per connection.
const VERIFIED_CACHE_SIZE = 10_000;

export async function createAuthenticator(
  deps: Pick<BrokerDeps, 'directory' | 'profiles' | 'serviceAccount' | 'limits' | 'admission' | 'onLoginRefused'>,
  log: Logger,
  peers: { remoteOf(client: Client): string | undefined; certificateOf(client: Client): CertificateIdentity | undefined },
  throttle: LoginThrottle,
  sessions: SessionStore,
): Promise<Authenticator> {
  // An unknown device is checked against this hash too, so it costs the same scrypt time
  // as a wrong secret and device ids cannot be probed by timing.
  const dummyHash = await hashSecret(newSecret());
  const connects = new WeakMap<Client, ConnectPacket>();
  const principals = new WeakMap<Client, BrokerPrincipal>();
  const present = new WeakSet<Client>();
  const holders = new Map<string, { client: Client; key: string }>();
  // Keyed by a digest of the stored hash and the secret: a rotated secret (new hash) or a
  // wrong one never hits, and only right secrets are ever added.
  const verified = new Lru<string, true>(VERIFIED_CACHE_SIZE);

  // Checks still running, shared by every connection that presents the same secret: a
  // device whose CONNACK comes late (a busy box, a storm) times out and connects again,
  // and each try used to queue one more scrypt behind the ones not yet done, so that under
  // load the queue grew faster than it drained and no device got in.
  const running = new Map<string, Promise<boolean>>();

  function check(password: Buffer, secretHash: string): Promise<boolean> {
    const key = createHash('sha256').update(secretHash).update('\0').update(password).digest('base64url');
    if (verified.get(key)) return Promise.resolve(true);
    let pending = running.get(key);
    if (!pending) {
      pending = verifySecret(password, secretHash).then((ok) => {
        if (ok) verified.set(key, true);
        return ok;
      });
      running.set(key, pending);
      void pending.finally(() => running.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  /** A username the broker would look a secret up for: the service account or a registered device. */
  async function registered(username: string): Promise<boolean> {
    if (deps.serviceAccount?.username === username) return true;
    return SafeId.safeParse(username).success && (await deps.directory.credentials(username)) !== undefined;
  }

  /** Who the credentials name, or why they are refused. */
  async function identify(packet: ConnectPacket, username: string, password: Buffer): Promise<Decision> {
    const service = deps.serviceAccount;
    if (service && username === service.username) {
      if (!(await check(password, service.secretHash))) return refuse(BAD_USERNAME_OR_PASSWORD, 'wrong service account secret', true);
      if (packet.will) return refuse(NOT_AUTHORIZED, 'the service account may not leave a will', true);
      return { ok: true, principal: { kind: 'service', username } };
    }

    // Not a possible device id (kernel/ids.ts): no lookup; nothing to learn from the timing.
    if (!SafeId.safeParse(username).success) return refuse(BAD_USERNAME_OR_PASSWORD, 'username is not a device id');
    const creds = await deps.directory.credentials(username);
    const secretOk = creds ? await check(password, creds.secretHash) : await verifySecret(password, dummyHash);
    // One answer (4) for all three, so a device id cannot be told from a wrong secret.
    if (!creds) return refuse(BAD_USERNAME_OR_PASSWORD, 'unknown device');
    if (!secretOk) return refuse(BAD_USERNAME_OR_PASSWORD, 'wrong device secret', true);
    if (!creds.active) return refuse(BAD_USERNAME_OR_PASSWORD, 'inactive device', true);

    return asDevice(packet, creds);
  }

  /** The device principal of registered, active credentials, and its will checked. */
  function asDevice(packet: ConnectPacket, creds: DeviceCredentials): Decision {
    // The device's pinned version, or the latest: read at each CONNECT, so a published version applies from the next one.
    const decoder = decoderFor(deps.profiles, creds.deviceId, creds.profileId);
    if (!decoder) return refuse(NOT_AUTHORIZED, `profile ${creds.profileId} is not loaded`, true);
    const principal: BrokerPrincipal = {
      kind: 'device',
      deviceId: creds.deviceId,
      profileId: creds.profileId,
      vendorId: creds.vendorId,
      secretHash: creds.secretHash,
      publishTopics: new Set(publishTopics(decoder.profile, creds.deviceId)),
      commandTopic: commandTopic(decoder.profile, creds.deviceId),
    };

    // A will is a publish the broker makes later on the device's behalf: check it now, by
    // the same rules, so a stored will can never land on a foreign topic.
    const will = packet.will;
    if (will) {
      if (!principal.publishTopics.has(will.topic)) return refuse(NOT_AUTHORIZED, `will topic not allowed: ${clip(will.topic)}`, true);
      if (will.payload.length > deps.limits.maxPayloadBytes) return refuse(NOT_AUTHORIZED, 'will payload too large', true);
    }
    return { ok: true, principal };
  }

  /**
   * A device certificate that the arena's CA issued (verified in the handshake,
   * broker/listen.ts) stands in for the secret. The username may be left out; if given it
   * must be the device the certificate names. A deactivated or unknown device is refused
   * as with a secret; a revoked certificate is a deactivated device, so the registry, not
   * a CRL, decides who is in.
   */
  async function byCertificate(packet: ConnectPacket, username: string | undefined, certificate: CertificateIdentity): Promise<Decision> {
    const deviceId = certificate.deviceId;
    if (deviceId === undefined) return refuse(BAD_USERNAME_OR_PASSWORD, `certificate ${certificate.fingerprint256} names no device id`);
    if (username !== undefined && username !== deviceId) return refuse(NOT_AUTHORIZED, `username is not the device ${deviceId} its certificate names`, true);
    const creds = await deps.directory.credentials(deviceId);
    if (!creds) return refuse(BAD_USERNAME_OR_PASSWORD, `certificate of an unknown device ${deviceId}`, true);
    if (!creds.active) return refuse(BAD_USERNAME_OR_PASSWORD, 'inactive device', true);
    return asDevice(packet, creds);
  }

  /** A certificate cannot be guessed; a secret can, so this path goes through the login throttle. */
  async function bySecret(packet: ConnectPacket, remote: string | undefined, username: string, password: Buffer): Promise<Decision> {
    // A locked username, or a locked address for a name that is no registered device, is
    // refused before any secret is looked at: guessing makes no progress and costs no scrypt.
    const locked = await throttle.locked(username, remote, registered);
    if (locked) return refuse(NOT_AUTHORIZED, `too many failed logins for this ${locked.key}; locked for ${Math.ceil(locked.retryInMs / 1000)} s more`);
    const decision = await identify(packet, username, password);
    if (decision.ok) throttle.succeeded(username);
    else if (decision.returnCode === BAD_USERNAME_OR_PASSWORD) throttle.failed(username, remote);
    return decision;
  }

  async function decide(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Decision> {
    const packet = connects.get(client);
    if (!packet) return refuse(SERVER_UNAVAILABLE, 'CONNECT not seen by preConnect');
    // [MQTT-3.1.3-8] zero-byte ClientId with CleanSession 0: CONNACK 0x02, then close.
    // Answered here, before any lookup: a preConnect refusal would close without a CONNACK.
    if (packet.clientId === '' && !packet.clean) {
      return refuse(IDENTIFIER_REJECTED, 'empty client id with clean session 0 [MQTT-3.1.3-8]');
    }
    const certificate = peers.certificateOf(client);
    if (!certificate && (username === undefined || password === undefined)) return refuse(BAD_USERNAME_OR_PASSWORD, 'missing username or password');
    // The disk is full: no device comes in to publish what could not be stored. The
    // service account (split layout) is not a device and is let through.
    const closed = deps.admission?.closedBecause();
    if (closed !== undefined && username !== deps.serviceAccount?.username) return refuse(SERVER_UNAVAILABLE, closed);
    const decision = certificate
      ? await byCertificate(packet, username, certificate)
      : await bySecret(packet, peers.remoteOf(client), username ?? '', password ?? Buffer.alloc(0));
    if (!decision.ok) return decision;
    // [MQTT-3.1.4-2] would let any authenticated client take over (disconnect) a session by
    // reusing its client id; only the same principal may do that.
    const holder = holders.get(client.id);
    if (holder && holder.client !== client && holder.key !== principalKey(decision.principal)) {
      return refuse(IDENTIFIER_REJECTED, 'client id is in use by another principal', true);
    }
    return decision;
  }

  return {
    preConnect(client, packet, callback) {
      // [MQTT-1.5.3-2] a string with U+0000 MUST close the connection (aedes lets it through).
      if (packet.clientId.includes('\0')) return callback(new Error('NUL in client id [MQTT-1.5.3-2]'), false);
      connects.set(client, packet);
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      decide(client, username, password)
        .catch((err: unknown): Decision => {
          // Deny by default: a failing directory must not let anyone in.
          log.error({ err, event: 'connect_error', username: loggableUsername(username, false) }, 'authentication failed with an error');
          return refuse(SERVER_UNAVAILABLE, 'authentication error');
        })
        .then(async (decision) => {
          if (decision.ok) {
            principals.set(client, decision.principal);
            // [MQTT-3.1.2-4] a CleanSession 0 session outlives the connection; [MQTT-3.1.2-6]
            // CleanSession 1 discards any earlier one and ends with its connection.
            const packet = connects.get(client);
            if (packet?.clean === false) {
              if (await sessions.has(client.id)) present.add(client);
              await sessions.add(client.id);
            } else {
              await sessions.delete(client.id);
            }
            return done(null, true);
          }
          deps.onLoginRefused?.(decision.returnCode);
          // Never the password; the username verbatim (clipped) only when it names a device.
          log.warn(
            {
              event: 'connect_refused',
              username: loggableUsername(username, decision.known),
              clientId: clip(client.id),
              remote: peers.remoteOf(client),
              returnCode: decision.returnCode,
              reason: decision.reason,
            },
            'connection refused',
          );
          const error = Object.assign(new Error(decision.reason), { returnCode: decision.returnCode }) as AuthenticateError;
          done(error, null);
        })
        .catch((err: unknown) => {
          log.error({ err, event: 'connect_error', clientId: clip(client.id) }, 'session store failed; refusing the connection');
          done(Object.assign(new Error('session store error'), { returnCode: SERVER_UNAVAILABLE }) as AuthenticateError, null);
        });
    },

    sessionPresent: (client) => present.has(client),

    principalOf: (client) => principals.get(client),

    connectOf: (client) => connects.get(client),

    registered(client) {
      const principal = principals.get(client);
      if (principal) holders.set(client.id, { client, key: principalKey(principal) });
    },

    disconnected(client) {
      if (holders.get(client.id)?.client === client) holders.delete(client.id);
    },
  };
}
