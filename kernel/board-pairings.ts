/**
 * Pairing a ward tablet: arena staff create a one-time code for a site; the tablet
 * exchanges it once for a board token (role board, bound to that site), which it keeps.
 * The code is stored only as its digest.
 */
export interface BoardPairing {
  readonly id: string;
  readonly siteId: string;
  /** What the board will be called, e.g. "Nurses' station, ward 3": the board token's label. */
  readonly label: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly claimedAt: number | null;
  /** The board token the code was exchanged for. */
  readonly tokenId: string | null;
}

export interface BoardPairings {
  /** A new code for a site; returns the code (shown once) and the pairing. */
  create(siteId: string, label: string, now: number): Promise<{ code: string; pairing: BoardPairing }>;
  /**
   * Takes the pairing a code names, once: a second claim, an expired or unknown code all
   * answer undefined alike.
   */
  claim(code: string, now: number): Promise<BoardPairing | undefined>;
  /** Records the token a claimed pairing was exchanged for. */
  bind(pairingId: string, tokenId: string): Promise<void>;
  list(siteId: string): Promise<BoardPairing[]>;
}
