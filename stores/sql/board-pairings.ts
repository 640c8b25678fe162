import { randomBytes, randomInt } from 'node:crypto';
import type { BoardPairing, BoardPairings } from '../../kernel/board-pairings.js';
import { tokenDigest } from '../../kernel/secrets.js';
import { migrate, type Migration } from './migrations.js';
import type { SqlClient } from './sql-client.js';

/**
 * Board pairings, with their own migration list and ledger (board_pairing_migrations),
 * so their numbering never collides with the registry's.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'board pairings',
    statements: [
      `CREATE TABLE IF NOT EXISTS board_pairings (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        site_id TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        claimed_at BIGINT,
        token_id TEXT
      )`,
    ],
  },
];

/** Crockford's base32 without I, L, O and U: read aloud or typed on a tablet without confusion. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 8;
/** A code is good for this long: enough to walk from the office to the ward. */
export const PAIRING_TTL_MS = 15 * 60_000;

/** The form a person may type a code in: any case, with spaces or dashes. */
export const normaliseCode = (code: string): string => code.toUpperCase().replace(/[\s-]/g, '');

function newCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

interface Row {
  id: string;
  site_id: string;
  label: string;
  created_at: number;
  expires_at: number;
  claimed_at: number | null;
  token_id: string | null;
}
const COLUMNS = 'id, site_id, label, created_at, expires_at, claimed_at, token_id';
const toPairing = (r: Row): BoardPairing => ({
  id: r.id,
  siteId: r.site_id,
  label: r.label,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  claimedAt: r.claimed_at === null ? null : Number(r.claimed_at),
  tokenId: r.token_id,
});

export async function openBoardPairings(sql: SqlClient, now: () => number = Date.now): Promise<BoardPairings> {
  await migrate(sql, now, MIGRATIONS, 'board_pairing_migrations');
  return {
    async create(siteId, label, at) {
      const code = newCode();
      const pairing: BoardPairing = {
        id: `pair-${randomBytes(9).toString('base64url')}`,
        siteId,
        label,
        createdAt: at,
        expiresAt: at + PAIRING_TTL_MS,
        claimedAt: null,
        tokenId: null,
      };
      await sql.query(`INSERT INTO board_pairings (digest, ${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)`, [
        tokenDigest(normaliseCode(code)),
        pairing.id,
        siteId,
        label,
        pairing.createdAt,
        pairing.expiresAt,
      ]);
      return { code, pairing };
    },
    async claim(code, at) {
      // One statement: two tablets racing with the same code cannot both win.
      const [row] = await sql.query<Row>(
        `UPDATE board_pairings SET claimed_at = $1 WHERE digest = $2 AND claimed_at IS NULL AND expires_at > $1 RETURNING ${COLUMNS}`,
        [at, tokenDigest(normaliseCode(code))],
      );
      return row && toPairing(row);
    },
    async bind(pairingId, tokenId) {
      await sql.query('UPDATE board_pairings SET token_id = $1 WHERE id = $2', [tokenId, pairingId]);
    },
    async list(siteId) {
      return (await sql.query<Row>(`SELECT ${COLUMNS} FROM board_pairings WHERE site_id = $1 ORDER BY created_at, id`, [siteId])).map(toPairing);
    },
  };
}
