/**
 * The auditor's checks, run in the browser on what the gateway sent, recomputing everything: the
 * checkpoint note's Ed25519 signature and witness cosignatures (C2SP signed-note, tlog-cosignature),
 * an entry's leaf hash from its canonical bytes and its RFC 9162 inclusion proof against the signed
 * root, and a consistency proof between two signed checkpoints. Nothing the server computed is taken
 * on trust: roots come from signed notes, leaf hashes are recomputed, and the proof's own
 * `fromRoot`/`toRoot`/`leafHash` fields are ignored. Hashing and signatures are @noble/hashes and
 * @noble/curves (storage-layer/noble-crypto.ts); the note format and the Merkle verification are the
 * repository's browser-safe modules, the same code the CLI verifier runs.
 */
import { nobleCrypto } from '../../../storage-layer/noble-crypto';
import { parseCheckpointBody, parseNote, verifyCosignatures, verifyLogSignature } from '../../../storage-layer/note';
import { treeHasher, verifyConsistencyWith, verifyInclusionWith } from '../../../storage-layer/merkle-core';
import { toHex, utf8 } from '../../../storage-layer/bytes';
import type { Trust } from '../../../storage-layer/verify/trust';

const hasher = treeHasher(nobleCrypto);

export interface Verdict {
  ok: boolean;
  /** What was checked, or the first thing that failed, in words. */
  words: string;
}

export interface CheckedCheckpoint {
  treeSize: number;
  rootHash: Uint8Array;
  cosigners: Array<{ witness: string; timestamp: number }>;
  witnessed: boolean;
}

class Bad extends Error {}

/** 32-byte hashes as lower- or upper-case hex; anything else is a bad proof. */
function hashFromHex(hex: unknown, what: string): Uint8Array {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) throw new Bad(`${what} is not a 32-byte hex hash`);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Verifies a checkpoint note against the trusted keys; throws Bad naming what failed. */
export function checkCheckpoint(note: unknown, trust: Trust): CheckedCheckpoint {
  if (typeof note !== 'string') throw new Bad('the checkpoint note is missing');
  let parsed;
  let body;
  try {
    parsed = parseNote(note);
    body = parseCheckpointBody(parsed.body);
  } catch (err) {
    throw new Bad(`the checkpoint note is malformed: ${(err as Error).message}`);
  }
  if (body.origin !== trust.origin) throw new Bad(`the checkpoint names the log "${body.origin}", not the trusted "${trust.origin}"`);
  if (!verifyLogSignature(nobleCrypto, parsed, trust.logKeys)) throw new Bad('the checkpoint’s signature does not verify with a trusted log key');
  const cosigners = verifyCosignatures(nobleCrypto, parsed.body, parsed.signatures, trust.witnesses).map((c) => ({ witness: c.witness, timestamp: c.timestamp }));
  return { treeSize: body.treeSize, rootHash: body.rootHash, cosigners, witnessed: trust.quorum > 0 && cosigners.length >= trust.quorum };
}

function witnessWords(c: CheckedCheckpoint, trust: Trust): string {
  if (trust.witnesses.length === 0) return 'no witnesses are configured';
  return `cosigned by ${c.cosigners.length} of ${trust.witnesses.length} witnesses (${c.witnessed ? 'witnessed' : `quorum ${trust.quorum} not reached`})`;
}

function verdictOf(run: () => string): Verdict {
  try {
    return { ok: true, words: run() };
  } catch (err) {
    if (err instanceof Bad) return { ok: false, words: err.message };
    return { ok: false, words: `the proof could not be read: ${(err as Error).message}` };
  }
}

interface EntryAnswer {
  entry?: { canonical?: unknown };
  proof?: { leafIndex?: unknown; treeSize?: unknown; hashes?: unknown };
  checkpoint?: { note?: unknown };
}

/** GET /ledger/entries/:seq's answer, checked for entry `seq`. */
export function verifyInclusionAnswer(answer: EntryAnswer, seq: number, trust: Trust): Verdict {
  return verdictOf(() => {
    const checkpoint = checkCheckpoint(answer.checkpoint?.note, trust);
    const canonical = answer.entry?.canonical;
    if (typeof canonical !== 'string') throw new Bad('the entry’s canonical bytes are missing');
    let entrySeq: unknown;
    try {
      entrySeq = (JSON.parse(canonical) as { seq?: unknown }).seq;
    } catch {
      throw new Bad('the entry’s canonical bytes are not JSON');
    }
    if (entrySeq !== seq || answer.proof?.leafIndex !== seq) throw new Bad(`the answer is about entry ${String(entrySeq)}, not entry ${seq}`);
    if (answer.proof?.treeSize !== checkpoint.treeSize) throw new Bad('the proof is for another tree size than the signed checkpoint');
    if (!Array.isArray(answer.proof.hashes)) throw new Bad('the proof has no hashes');
    const path = answer.proof.hashes.map((h, i) => hashFromHex(h, `proof hash ${i + 1}`));
    const leaf = hasher.leaf(utf8(canonical));
    if (!verifyInclusionWith(hasher, leaf, seq, checkpoint.treeSize, path, checkpoint.rootHash)) {
      throw new Bad(`the inclusion proof does not lead from entry ${seq}'s leaf hash to the signed root`);
    }
    return `entry ${seq} (leaf hash ${toHex(leaf).slice(0, 16)}…) is in the signed checkpoint of ${checkpoint.treeSize} entries; ${witnessWords(checkpoint, trust)}`;
  });
}

interface ConsistencyAnswer { from?: unknown; to?: unknown; hashes?: unknown }

/** A consistency proof between two signed checkpoint notes (the older first). */
export function verifyConsistencyAnswer(oldNote: string, newNote: string, proof: ConsistencyAnswer, trust: Trust): Verdict {
  return verdictOf(() => {
    const older = checkCheckpoint(oldNote, trust);
    const newer = checkCheckpoint(newNote, trust);
    if (proof.from !== older.treeSize || proof.to !== newer.treeSize) throw new Bad(`the proof is from ${String(proof.from)} to ${String(proof.to)}, not from ${older.treeSize} to ${newer.treeSize}`);
    if (!Array.isArray(proof.hashes)) throw new Bad('the proof has no hashes');
    const path = proof.hashes.map((h, i) => hashFromHex(h, `proof hash ${i + 1}`));
    if (!verifyConsistencyWith(hasher, older.treeSize, newer.treeSize, older.rootHash, newer.rootHash, path)) {
      throw new Bad(`the ledger of ${newer.treeSize} entries does not extend the one of ${older.treeSize} entries: history was rewritten, or the proof is wrong`);
    }
    return `the signed ledger of ${newer.treeSize} entries extends the signed one of ${older.treeSize} entries; nothing before entry ${older.treeSize} changed`;
  });
}

/** The latest checkpoint's note, checked on its own. */
export function verifyCheckpointNote(note: string, trust: Trust): Verdict & { checkpoint?: CheckedCheckpoint } {
  let checkpoint: CheckedCheckpoint | undefined;
  const verdict = verdictOf(() => {
    checkpoint = checkCheckpoint(note, trust);
    return `signed by the trusted log key of ${trust.origin}; ${witnessWords(checkpoint, trust)}`;
  });
  return checkpoint ? { ...verdict, checkpoint } : verdict;
}
