/**
 * The ledger's HTTP API (read-only): checkpoints with their cosignatures, entries with inclusion
 * proofs, consistency proofs. The public key beside a checkpoint comes from configuration (the key
 * this gateway signs with, or one it was told to trust), never from a table the database can change.
 */
import { Router } from 'express';
import type { Ledger } from '../storage-layer/ledger';
import type { SignedCheckpoint } from '../storage-layer/checkpoint';
import type { Trust } from '../storage-layer/verify/trust';
import { NotFoundError, ValidationError } from '../storage-layer/errors';
import { parseIntParam } from '../storage-layer/http-params';
import { allow } from '../storage-layer/http-identity';
import { keyId, SIG_ED25519 } from '../storage-layer/note';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { toBase64, toHex } from '../storage-layer/bytes';

/** The configured log key whose note key ID the checkpoint names, base64; null if none is configured. */
function publicKeyOf(checkpoint: SignedCheckpoint, trust: Trust): string | null {
  const key = trust.logKeys.find((k) => toHex(keyId(nodeCrypto, checkpoint.origin, SIG_ED25519, k.publicKey)) === checkpoint.keyId);
  return key ? toBase64(key.publicKey) : null;
}

async function chooseCheckpoint(ledger: Ledger, size: number | undefined, witnessed: boolean): Promise<SignedCheckpoint> {
  if (size !== undefined) {
    const at = await ledger.checkpointAt(size);
    if (!at) throw new NotFoundError(`no signed checkpoint at size ${size}`);
    return at;
  }
  const latest = witnessed ? await ledger.latestWitnessedCheckpoint() : ((await ledger.latestCheckpoint()) ?? (await ledger.checkpointNow()));
  if (!latest) throw new NotFoundError(witnessed ? 'no checkpoint has been witnessed yet' : 'the ledger is empty');
  return latest;
}

export function ledgerRouter(ledger: Ledger, trust: Trust): Router {
  const router = Router();
  const witnesses = trust.witnesses.map((w) => ({ name: w.name, publicKey: toBase64(w.publicKey) }));

  router.get('/ledger/checkpoint', async (req, res) => {
    const size = parseIntParam(req.query.size, 'size', { min: 1, required: false });
    const witnessed = req.query.witnessed;
    if (witnessed !== undefined && witnessed !== 'true' && witnessed !== 'false') throw new ValidationError('"witnessed" must be true or false', 'witnessed');
    const checkpoint = await chooseCheckpoint(ledger, size, witnessed === 'true');
    res.json({ ...checkpoint, publicKey: publicKeyOf(checkpoint, trust), witnesses, quorum: trust.quorum });
  });

  router.get('/ledger/keys', async (_req, res) => {
    res.json({ algorithm: 'Ed25519', keys: await ledger.publicKeys() });
  });

  // Entries name actors (pseudonyms, studies): auditors and admins only. Checkpoints, keys and
  // consistency proofs are hashes and signatures, public so anyone can hold the ledger to them.
  router.get('/ledger/entries/:seq', allow('auditor', 'admin'), async (req, res) => {
    const seq = parseIntParam(req.params.seq, 'seq')!;
    res.json(await ledger.entryWithProof(seq));
  });

  router.get('/ledger/consistency', async (req, res) => {
    const from = parseIntParam(req.query.from, 'from', { min: 1 })!;
    const to = parseIntParam(req.query.to, 'to', { min: 1 })!;
    res.json(await ledger.consistency(from, to));
  });

  return router;
}
