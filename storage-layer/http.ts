/** Read-only HTTP API over the ledger: checkpoints, entries with inclusion proofs, consistency proofs. */
import { Router } from 'express';
import type { Ledger } from './ledger';
import { NotFoundError } from './errors';
import { parseIntParam } from './http-params';
import { allow } from './http-identity';

export function ledgerRouter(ledger: Ledger): Router {
  const router = Router();

  router.get('/ledger/checkpoint', async (req, res) => {
    const size = parseIntParam(req.query.size, 'size', { min: 1, required: false });
    const checkpoint = size === undefined ? ((await ledger.latestCheckpoint()) ?? (await ledger.checkpointNow())) : await ledger.checkpointAt(size);
    if (!checkpoint) throw new NotFoundError(size === undefined ? 'the ledger is empty' : `no signed checkpoint at size ${size}`);
    const keys = await ledger.publicKeys();
    res.json({ ...checkpoint, publicKey: keys.find((k) => k.keyId === checkpoint.keyId)?.publicKey ?? null });
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
