/**
 * Sealed round messages between compute nodes (POST /mpc/message, parties/wire.ts PeerMessage).
 *
 * A round (mpc/rounds.ts) sends each other participant a vector of sub-shares: shares of the sender's
 * own noise, of its zero sharing or of its reshared product. Sent in clear, n − 1 ≥ t + 1 of them open
 * the sender's secret (its noise, and with it the exact aggregate), so they are sealed to the
 * recipient's X25519 key with hgd-seal-v1 (parties/sealing.ts) and the associated data
 *   'hgd-round-v1|node-<from>|node-<to>|<query id>|<round>'
 * An envelope therefore opens only at its recipient, only as a message from its sender (the
 * authenticated party of the signed request) and only for its query and round: it cannot be replayed
 * into another query, round or link. The plaintext is the values packed 16 bytes each (mpc/codec.ts);
 * an element ≥ P or a ragged length is refused. Fixed vectors: test/vectors/round-message.json.
 */
import type { KeyObject } from 'node:crypto';
import { packElements, unpackElements } from '../mpc/codec';
import type { RoundName } from '../mpc/rounds';
import { nodeParty, type EncryptionKey } from './key-directory';
import { openSealed, sealToParty, type SealRandomness } from './sealing';
import type { PeerMessage } from './wire';

/** What a round message is bound to. */
export interface RoundMessageContext {
  /** Sender and recipient node ids. */
  from: number;
  to: number;
  queryId: string;
  round: RoundName;
}

/** The associated data of a round message's envelope. */
export function roundMessageAad(c: RoundMessageContext): string {
  return `hgd-round-v1|${nodeParty(c.from)}|${nodeParty(c.to)}|${c.queryId}|${c.round}`;
}

/**
 * Seals `values` for node `c.to` (whose X25519 public key is `recipient`). `randomness` is for the
 * fixed vectors only (see SealRandomness).
 */
export function sealRoundMessage(recipient: KeyObject, c: RoundMessageContext, values: readonly bigint[], randomness?: SealRandomness): PeerMessage {
  const plain = packElements(values);
  const sealed = sealToParty(recipient, plain, roundMessageAad(c), randomness);
  plain.fill(0);
  return { v: 1, queryId: c.queryId, round: c.round, sealed };
}

/**
 * Opens a round message at its recipient `to` (this node's key), as sent by the authenticated `from`.
 * Throws SealError (wrong recipient, sender, query or round, or tampered) or ShareEncodingError.
 */
export function openRoundMessage(key: EncryptionKey, from: number, to: number, msg: PeerMessage): bigint[] {
  const plain = openSealed(key, msg.sealed, roundMessageAad({ from, to, queryId: msg.queryId, round: msg.round }));
  try {
    return unpackElements(plain);
  } finally {
    plain.fill(0);
  }
}
