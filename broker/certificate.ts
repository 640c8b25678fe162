import type { PeerCertificate } from 'node:tls';
import { SafeId } from '../kernel/ids.js';

/** What the broker takes from a device certificate that a configured CA issued. */
export interface CertificateIdentity {
  /** The device id it names, or undefined when it names none that could be one. */
  readonly deviceId: string | undefined;
  /** SHA-256 of the DER certificate, for the log: which certificate it was. */
  readonly fingerprint256: string;
}

/**
 * The device id is the subject's CN; a certificate without one names its device in its
 * subjectAltName (RFC 5280 section 4.2.1.6), as the first DNS name or a URI of the form
 * urn:dev:<id> that is a device id. Anything else names no device.
 */
export function certificateIdentity(cert: PeerCertificate): CertificateIdentity {
  const cn = cert.subject?.CN;
  const candidates = [...(typeof cn === 'string' ? [cn] : Array.isArray(cn) && cn.length === 1 ? cn : []), ...sanNames(cert.subjectaltname)];
  const deviceId = candidates.find((c) => SafeId.safeParse(c).success);
  return { deviceId, fingerprint256: cert.fingerprint256 };
}

function sanNames(san: string | undefined): string[] {
  if (!san) return [];
  const names: string[] = [];
  for (const entry of san.split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4));
    else if (entry.startsWith('URI:urn:dev:')) names.push(entry.slice('URI:urn:dev:'.length));
  }
  return names;
}
