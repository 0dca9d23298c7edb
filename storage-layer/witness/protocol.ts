/**
 * The C2SP tlog-witness add-checkpoint exchange (c2sp.org/tlog-witness), as plain text in and out,
 * so any transport (HTTP, a direct call in tests) can carry it. Browser-safe.
 *
 * Request body:  "old <size>\n", up to 63 base64 consistency-proof lines, "\n", the signed checkpoint note.
 * Answers: 200 with cosignature lines; 400 malformed or old > size; 403 no trusted log signature;
 * 404 unknown origin; 409 (text/x.tlog.size, "<latest cosigned size>\n") when old is not the witness's
 * latest size, or the same size with another root; 422 when the consistency proof does not verify.
 */
import { hashFromBase64, toBase64 } from '../bytes';

export const MAX_PROOF_LINES = 63;
export const SIZE_CONTENT_TYPE = 'text/x.tlog.size';

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The checkpoint as a signed note (body, blank line, signature lines). */
  note: string;
}

export interface WitnessResponse {
  status: number;
  body: string;
  contentType: string;
}

/** A witness as the log knows it: its name and its Ed25519 public key (raw, base64), pinned in configuration. */
export interface WitnessEndpoint {
  name: string;
  publicKey: string;
}

/** Carries one add-checkpoint request to a witness (HTTP POST <prefix>/add-checkpoint, or a direct call). */
export type WitnessTransport = (witness: WitnessEndpoint, body: string) => Promise<WitnessResponse>;

export class AddCheckpointFormatError extends Error {}

export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  return `old ${req.oldSize}\n${req.proof.map((h) => `${toBase64(h)}\n`).join('')}\n${req.note}`;
}

export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const end = body.indexOf('\n\n');
  if (end < 0) throw new AddCheckpointFormatError('the request has no blank line before the checkpoint');
  const [oldLine, ...proofLines] = body.slice(0, end).split('\n');
  const m = /^old (0|[1-9][0-9]{0,15})$/.exec(oldLine ?? '');
  if (!m) throw new AddCheckpointFormatError('the first line must be "old <size>" in decimal without leading zeroes');
  if (proofLines.length > MAX_PROOF_LINES) throw new AddCheckpointFormatError(`at most ${MAX_PROOF_LINES} consistency proof lines`);
  const proof = proofLines.map((line) =>
    hashFromBase64(line, (why) => new AddCheckpointFormatError(why === 'base64' ? 'a consistency proof line is not base64' : 'a consistency proof line is not a 32-byte hash')));
  return { oldSize: Number(m[1]), proof, note: body.slice(end + 2) };
}

export function sizeConflict(size: number): WitnessResponse {
  return { status: 409, body: `${size}\n`, contentType: SIZE_CONTENT_TYPE };
}

/** The witness's latest size from a 409 answer, or null if the answer is not one. */
export function parseSizeConflict(res: WitnessResponse): number | null {
  if (res.status !== 409 || !res.contentType.startsWith(SIZE_CONTENT_TYPE)) return null;
  const m = /^(0|[1-9][0-9]{0,15})\n$/.exec(res.body);
  return m ? Number(m[1]) : null;
}
