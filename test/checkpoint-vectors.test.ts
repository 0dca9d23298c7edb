/**
 * test/vectors/checkpoint.json replayed: the good checkpoint notes are reproduced byte for byte by the
 * production signer and accepted, with their cosignatures, by the production verifiers; every bad one
 * is refused for its stated reason.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fromBase64 } from '../storage-layer/bytes';
import { signCheckpoint } from '../storage-layer/checkpoint';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { NoteFormatError, parseNote, parseSignatureLines, verifyCosignatures, verifyLogSignature } from '../storage-layer/note';
import { checkpointVectors, type CheckpointVectors } from './vectors/checkpoint-vectors';
import { ed25519FromSeed } from './vectors/fixed-keys';

const v = JSON.parse(fs.readFileSync(new URL('./vectors/checkpoint.json', import.meta.url), 'utf8')) as CheckpointVectors;
const logKey = { name: v.origin, publicKey: fromBase64(v.logPublicKey) };
const witnessKey = { name: v.witness.name, publicKey: fromBase64(v.witness.publicKey) };

describe('checkpoint vectors (test/vectors/checkpoint.json)', () => {
  it('the file is what the generator writes (fixed keys, deterministic signatures)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(checkpointVectors())), v);
    assert.equal(ed25519FromSeed(v.logSeed).publicKeyBase64, v.logPublicKey);
  });

  for (const g of v.good) {
    it(`good: ${g.name}: signed byte for byte, the log signature and the cosignature verify`, () => {
      const signed = signCheckpoint(ed25519FromSeed(v.logSeed), v.origin, g.treeSize, fromBase64(g.rootHash));
      assert.equal(signed.note, g.logNote);
      const note = parseNote(g.logNote);
      assert.equal(note.body, `${v.origin}\n${g.treeSize}\n${g.rootHash}\n`);
      assert.deepEqual(verifyLogSignature(nodeCrypto, note, [logKey]), logKey);
      const cos = verifyCosignatures(nodeCrypto, note.body, parseSignatureLines(g.cosignatureLine), [witnessKey]);
      assert.deepEqual(cos.map((c) => [c.witness, c.timestamp]), [[v.witness.name, g.cosignatureTime]]);
    });
  }

  for (const b of v.bad) {
    it(`bad: ${b.name} is refused (${b.expect})`, () => {
      if (b.expect === 'format-error') {
        assert.throws(() => parseNote(b.note), NoteFormatError);
        return;
      }
      const note = parseNote(b.note);
      if (b.expect === 'log-signature-refused') assert.equal(verifyLogSignature(nodeCrypto, note, [logKey]), null);
      else assert.deepEqual(verifyCosignatures(nodeCrypto, note.body, note.signatures, [witnessKey]), []);
    });
  }
});
