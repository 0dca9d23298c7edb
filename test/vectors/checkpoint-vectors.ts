/**
 * Checkpoint vectors (C2SP tlog-checkpoint, signed-note, tlog-cosignature): a checkpoint note signed
 * by a fixed ledger key and cosigned by a fixed witness key at a fixed time, and bad variants. Ed25519
 * signatures are deterministic, so every good case is reproduced byte for byte by the production code
 * (storage-layer/checkpoint.ts signCheckpoint) and checked by the production verifiers (note.ts).
 * `npx tsx test/vectors/generate.ts` rewrites test/vectors/checkpoint.json with the other vectors.
 */
import { keyId, SIG_COSIGNATURE_V1, cosignatureMessage, signatureLine } from '../../storage-layer/note';
import { signCheckpoint } from '../../storage-layer/checkpoint';
import { concatBytes, fromBase64, toBase64, uint64 } from '../../storage-layer/bytes';
import { nodeCrypto } from '../../storage-layer/node-crypto';
import { signBytes } from '../../storage-layer/signing-key';
import { ed25519FromSeed, seedOf } from './fixed-keys';

export interface CheckpointVectors {
  description: string;
  origin: string;
  logSeed: string;
  logPublicKey: string;
  witness: { name: string; seed: string; publicKey: string };
  good: Array<{ name: string; treeSize: number; rootHash: string; logNote: string; cosignatureTime: number; cosignatureLine: string }>;
  bad: Array<{ name: string; note: string; expect: 'log-signature-refused' | 'no-cosignature' | 'format-error' }>;
}

/** A witness's cosignature line for a checkpoint body at `timestamp` (c2sp.org/tlog-cosignature). */
export function cosignatureLine(name: string, seed: string, body: string, timestamp: number): string {
  const key = ed25519FromSeed(seed);
  const id = keyId(nodeCrypto, name, SIG_COSIGNATURE_V1, fromBase64(key.publicKeyBase64));
  return signatureLine(name, id, concatBytes(uint64(timestamp), signBytes(key, cosignatureMessage(body, timestamp))));
}

export function checkpointVectors(): CheckpointVectors {
  const origin = 'hgd.example/ledger';
  const logSeed = seedOf('checkpoint-log');
  const log = ed25519FromSeed(logSeed);
  const witness = { name: 'witness.example/node-1', seed: seedOf('checkpoint-witness-1'), publicKey: ed25519FromSeed(seedOf('checkpoint-witness-1')).publicKeyBase64 };
  const root = (label: string) => toBase64(nodeCrypto.sha256(new TextEncoder().encode(label)));
  const good = [
    { name: 'empty tree', treeSize: 0, rootHash: toBase64(nodeCrypto.sha256(new Uint8Array(0))) },
    { name: 'tree of 7', treeSize: 7, rootHash: root('seven') },
  ].map((g) => {
    const signed = signCheckpoint(log, origin, g.treeSize, fromBase64(g.rootHash));
    const body = signed.note.slice(0, signed.note.lastIndexOf('\n\n') + 1);
    const cosignatureTime = 1_764_547_200; // 2025-12-01T00:00:00Z
    return { ...g, logNote: signed.note, cosignatureTime, cosignatureLine: cosignatureLine(witness.name, witness.seed, body, cosignatureTime) };
  });
  const g = good[1]!;
  const other = ed25519FromSeed(seedOf('checkpoint-other-log'));
  const bad: CheckpointVectors['bad'] = [
    { name: 'size changed after signing', note: g.logNote.replace(`\n${g.treeSize}\n`, `\n${g.treeSize + 1}\n`), expect: 'log-signature-refused' },
    { name: 'root changed after signing', note: g.logNote.replace(g.rootHash, root('eight')), expect: 'log-signature-refused' },
    { name: 'signed by another key under the log name (unknown key id: no trusted signature)', note: signCheckpoint(other, origin, g.treeSize, fromBase64(g.rootHash)).note, expect: 'log-signature-refused' },
    { name: 'cosignature with a changed time', note: g.logNote + cosignatureLine(witness.name, witness.seed, g.logNote.slice(0, g.logNote.lastIndexOf('\n\n') + 1), g.cosignatureTime).replace(/^(— \S+ )(\S+)/, (_m, p, sig) => p + toBase64(concatBytes(fromBase64(sig).subarray(0, 4), uint64(g.cosignatureTime + 1), fromBase64(sig).subarray(12)))), expect: 'no-cosignature' },
    { name: 'no blank line before the signatures', note: g.logNote.replace('\n\n', '\n'), expect: 'format-error' },
  ];
  return {
    description: 'HGD checkpoint notes: C2SP tlog-checkpoint body, signed-note Ed25519 log signature, tlog-cosignature cosignature/v1 lines',
    origin, logSeed, logPublicKey: log.publicKeyBase64, witness, good, bad,
  };
}
