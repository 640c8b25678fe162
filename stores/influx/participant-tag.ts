import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HubError } from '../../kernel/errors.js';
import type { SqlClient } from '../../kernel/sql.js';

/**
 * What InfluxDB's `participant` tag holds instead of the participant id. InfluxDB keeps
 * every series key it has seen in its series file (`data/<db>/_series`), which no API call
 * rewrites, so an id written as a tag would outlive the participant's erasure there. The
 * tag is therefore a deterministic encryption of the id under a key InfluxDB never sees:
 * the same id always gives the same tag (series, filters and GROUP BY keep working), and
 * the hub, holding the key, reads the id back from a row without any lookup table.
 *
 * Construction (the SIV pattern of RFC 5297 with HMAC-SHA256 as the PRF): iv = the first
 * 16 bytes of HMAC(macKey, id), tag = "k1:" + base64url(iv ‖ AES-256-CTR(encKey, iv, id)).
 * Decoding recomputes the iv from the decrypted id, so a tag made with another key (or
 * none: a plain id from before) is recognised as such instead of decoding to garbage.
 * The ":" cannot occur in a participant id (kernel/ids.ts), so tag and id never collide.
 */
export const TAG_PREFIX = 'k1:';
export const PARTICIPANT_TAG_KEY_BYTES = 32;

export interface ParticipantTags {
  encode(participantId: string): string;
  /** The id behind a tag; throws STORE_UNAVAILABLE for a tag this key did not make. */
  decode(tag: string): string;
  /** The id behind a tag, or undefined for a tag this key did not make. */
  tryDecode(tag: string): string | undefined;
}

export function participantTags(key: Buffer): ParticipantTags {
  if (key.length < PARTICIPANT_TAG_KEY_BYTES)
    throw new HubError('CONFIG_INVALID', `the participant tag key must be at least ${PARTICIPANT_TAG_KEY_BYTES} bytes`);
  const derive = (purpose: string): Buffer => createHmac('sha256', key).update(`arena-hub influx participant tag|${purpose}`).digest();
  const encKey = derive('encryption');
  const macKey = derive('synthetic iv');
  const ivOf = (id: string): Buffer => createHmac('sha256', macKey).update(id).digest().subarray(0, 16);
  const ctr = (iv: Buffer, data: Buffer): Buffer => {
    const c = createCipheriv('aes-256-ctr', encKey, iv);
    return Buffer.concat([c.update(data), c.final()]);
  };
  // Bounded by the number of participants whose data the store has seen.
  const tags = new Map<string, string>();
  const ids = new Map<string, string>();

  const tryDecode = (tag: string): string | undefined => {
    const known = ids.get(tag);
    if (known !== undefined) return known;
    if (!tag.startsWith(TAG_PREFIX)) return undefined;
    const raw = Buffer.from(tag.slice(TAG_PREFIX.length), 'base64url');
    if (raw.length <= 16) return undefined;
    const iv = raw.subarray(0, 16);
    const id = ctr(iv, raw.subarray(16)).toString('utf8');
    if (!timingSafeEqual(iv, ivOf(id))) return undefined;
    ids.set(tag, id);
    return id;
  };
  return {
    encode(id) {
      let tag = tags.get(id);
      if (tag === undefined) {
        const iv = ivOf(id);
        tag = TAG_PREFIX + Buffer.concat([iv, ctr(iv, Buffer.from(id, 'utf8'))]).toString('base64url');
        tags.set(id, tag);
      }
      return tag;
    },
    decode(tag) {
      const id = tryDecode(tag);
      if (id === undefined) throw foreignTags([tag]);
      return id;
    },
    tryDecode,
  };
}

/** The error every path gives for participant tags this key did not write. */
export function foreignTags(tags: readonly string[]): HubError {
  const plain = tags.filter((t) => !t.startsWith(TAG_PREFIX)).length;
  return new HubError(
    'STORE_UNAVAILABLE',
    `InfluxDB holds ${tags.length} participant tag(s) this hub's key did not write (${plain} plain participant ids from before tags were encrypted, ${tags.length - plain} under another key); ` +
      'reading or writing beside them would mix two codings of the same participants. See stores/influx/README.md, "Participant tags".',
  );
}

/**
 * The key, kept in the registry database (PostgreSQL in the split layout), which every
 * service that reads or writes InfluxDB already shares, and never in InfluxDB: whoever
 * has InfluxDB's files alone cannot turn a tag back into an id. Created once; the
 * caller serialises the first creation (a migration lock).
 */
export async function loadOrCreateParticipantTagKey(sql: SqlClient): Promise<Buffer> {
  await sql.query('CREATE TABLE IF NOT EXISTS influx_participant_tag_key (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL)');
  await sql.query('INSERT INTO influx_participant_tag_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING', [
    randomBytes(PARTICIPANT_TAG_KEY_BYTES).toString('base64'),
  ]);
  const [row] = await sql.query<{ key: string }>('SELECT key FROM influx_participant_tag_key WHERE id = 1');
  const key = Buffer.from(row?.key ?? '', 'base64');
  if (key.length < PARTICIPANT_TAG_KEY_BYTES) throw new HubError('CONFIG_INVALID', 'the registry holds a participant tag key shorter than 32 bytes');
  return key;
}
