/**
 * What a compute node needs to host its witness: open it on the node's own database with the
 * node's witness key and the pinned log key from configuration, publish the witness's public key
 * beside the other parties' keys, and answer add-checkpoint without a web framework.
 *
 * Mount (for the node server): POST /witness/add-checkpoint, body as text, answer with
 * `res.status(r.status).type(r.contentType).send(r.body)` where `r = await witness.handle(body)`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { witnessKeyFile, type Config } from '../../config';
import type { Database } from '../db';
import { loadOrCreateSigningKey } from '../signing-key';
import { Witness } from './witness';
import type { WitnessEndpoint } from './protocol';

export const WITNESS_ROUTE = '/witness/add-checkpoint';

export function witnessName(config: Config, nodeId: number): string {
  return `${config.witness.namePrefix}${nodeId}`;
}

function publicFile(config: Config, nodeId: number): string {
  return path.join(config.nodes.keysDir, `node-${nodeId}-witness.pub.json`);
}

/**
 * Opens node `nodeId`'s witness. The pinned log key is HGD_WITNESS_LOG_KEY, or (the embedded
 * single-machine default) the public half of the ledger key file the gateway uses.
 */
export async function openNodeWitness(config: Config, nodeId: number, db: Database): Promise<Witness> {
  const logPublicKey = config.witness.logPublicKey ?? loadOrCreateSigningKey(config.ledger.signingKeyFile).publicKeyBase64;
  const witness = await Witness.open(db, {
    name: witnessName(config, nodeId),
    signingKey: loadOrCreateSigningKey(witnessKeyFile(config, nodeId)),
    log: { origin: config.ledger.origin, publicKey: logPublicKey },
  });
  const file = publicFile(config, nodeId);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ name: witness.name, publicKey: witness.publicKey })}\n`);
  fs.renameSync(tmp, file);
  return witness;
}

/** The local cluster's witnesses, from the public files their nodes wrote (HGD_WITNESSES overrides this in production). */
export function localWitnesses(config: Config): Array<WitnessEndpoint & { url: string }> {
  const out: Array<WitnessEndpoint & { url: string }> = [];
  for (let i = 1; i <= config.nodes.count; i++) {
    const file = publicFile(config, i);
    if (!fs.existsSync(file)) continue;
    const pub = JSON.parse(fs.readFileSync(file, 'utf8')) as WitnessEndpoint;
    out.push({ name: pub.name, publicKey: pub.publicKey, url: `${config.nodes.urls[i - 1]}/witness` });
  }
  return out;
}
