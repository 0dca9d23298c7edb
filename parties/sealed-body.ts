/**
 * Sealed bodies of every request and answer between the parties (the gateway and the compute nodes,
 * and the nodes among themselves). A request's body is sealed to its recipient's X25519 key, an
 * answer's body to the X25519 key of the party that asked, with hgd-seal-v1 (sealing.ts), so a passive
 * observer of a link reads neither the query (cohort pseudonyms, indicator, window, noise parameters)
 * nor the answer (record counts, digests, shares), nor a share batch's metadata.
 *
 * The associated data binds each envelope to what the signature of its request or answer covers
 * besides the body (request-signing.ts):
 *   request  'hgd-request-v2|<sender>|<recipient>|<METHOD>|<path>'
 *   answer   'hgd-response-v2|<signer>|<recipient>|<status>|<the request's signature>'
 * so an envelope opens only at its recipient, only as sent by its signed sender, for its method and
 * path, and an answer only as the answer to its one request. The signatures are over the SEALED bytes
 * (encrypt, then sign): a receiver checks who sent a body before it spends an X25519 agreement on it,
 * and a party that re-signs a captured envelope as itself cannot get it opened (the sender is in the
 * associated data). An empty body (GET /health) stays empty.
 *
 * Padding: before sealing, a body is padded with spaces to a multiple of PADDING_BLOCK bytes (JSON
 * ignores trailing whitespace, and no JSON text the parties send ends in a space, so the opener strips
 * them). An observer then learns a body's length only to within a block: an answer's length no longer
 * tells the number of digits of its counts (unless it sits at a block boundary), a query's length
 * tells its cohort size only to within about four patients (a pseudonym takes 67 bytes). Fixed vectors: test/vectors/sealed-body.json.
 */
import type { KeyObject } from 'node:crypto';
import type { EncryptionKey } from './key-directory';
import type { RequestTarget } from './request-signing';
import { openSealed, sealToParty, type SealRandomness } from './sealing';

/** Content type of a sealed body (the body is the envelope's text, 'hgd-seal-v1.' + base64url). */
export const SEALED_CONTENT_TYPE = 'application/vnd.hgd.sealed';

/** What an answer's envelope is bound to. */
export interface AnswerContext {
  /** The party that answers (and signs the answer). */
  signer: string;
  /** The party that asked. */
  recipient: string;
  status: number;
  /** x-hgd-signature of the request answered. */
  requestSignature: string;
}

/** Bodies are padded to a multiple of this many bytes before they are sealed. */
export const PADDING_BLOCK = 256;

/** `text` as UTF-8, padded with spaces to a multiple of PADDING_BLOCK bytes. */
function padded(text: string): Buffer {
  const bytes = Buffer.byteLength(text, 'utf8');
  const size = Math.ceil(bytes / PADDING_BLOCK) * PADDING_BLOCK;
  const out = Buffer.alloc(size, 0x20);
  out.write(text, 0, 'utf8');
  return out;
}

/** The opened plaintext without its padding. */
function unpadded(plain: Buffer): string {
  let end = plain.length;
  while (end > 0 && plain[end - 1] === 0x20) end--;
  return plain.subarray(0, end).toString('utf8');
}

export function requestBodyAad(t: RequestTarget): string {
  return `hgd-request-v2|${t.party}|${t.recipient}|${t.method.toUpperCase()}|${t.path}`;
}

export function answerBodyAad(c: AnswerContext): string {
  return `hgd-response-v2|${c.signer}|${c.recipient}|${c.status}|${c.requestSignature}`;
}

/** Seals `text`, padded, for `target.recipient` (whose X25519 key is `recipientKey`); '' stays ''. */
export function sealRequestBody(recipientKey: KeyObject, target: RequestTarget, text: string, randomness?: SealRandomness): string {
  return text === '' ? '' : sealToParty(recipientKey, padded(text), requestBodyAad(target), randomness);
}

/** Opens a request body at its recipient (`key`), without its padding; '' stays ''. Throws SealError otherwise. */
export function openRequestBody(key: EncryptionKey, target: RequestTarget, sealed: string): string {
  return sealed === '' ? '' : unpadded(openSealed(key, sealed, requestBodyAad(target)));
}

/** Seals an answer's `text`, padded, for the party that asked (whose X25519 key is `recipientKey`). */
export function sealAnswerBody(recipientKey: KeyObject, c: AnswerContext, text: string, randomness?: SealRandomness): string {
  return text === '' ? '' : sealToParty(recipientKey, padded(text), answerBodyAad(c), randomness);
}

/** Opens an answer at the party that asked (`key`), without its padding. Throws SealError otherwise. */
export function openAnswerBody(key: EncryptionKey, c: AnswerContext, sealed: string): string {
  return sealed === '' ? '' : unpadded(openSealed(key, sealed, answerBodyAad(c)));
}
