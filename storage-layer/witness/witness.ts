/**
 * A witness of the ledger (C2SP tlog-witness, tlog-cosignature), for a compute node to host: each
 * node is run by an independent organisation, and its cosignature says "this is the largest tree
 * I have seen for this log, and it extends every tree I cosigned before".
 *
 * It trusts only the log key it was given (pinned in its configuration, never read from the
 * ledger), keeps the checkpoints it cosigned in its own database, and for each add-checkpoint:
 * checks the log's signature, that the old size is its latest cosigned size, and the RFC 9162
 * consistency proof from that tree; it never cosigns a smaller tree or another root for the same
 * size, also across restarts (the state is in the database), and it persists before it answers.
 * The check and the write are one transaction under a lock, so two requests cannot roll it back.
 *
 * `handle(body)` is the whole HTTP contract without a web framework: the host mounts it at
 * POST <prefix>/add-checkpoint and sends back {status, contentType, body}.
 */
import type { Knex } from 'knex';
import { asBuffer, type Database } from '../db';
import { runMigrations } from '../migrate';
import { signBytes, type SigningKey } from '../signing-key';
import { fromBase64, equalBytes, uint64 } from '../bytes';
import { nodeCrypto } from '../node-crypto';
import { nodeTreeHasher } from '../merkle';
import { verifyConsistencyWith } from '../merkle-core';
import {
  cosignatureMessage, keyId, NoteFormatError, parseCheckpointBody, parseNote, SIG_COSIGNATURE_V1,
  signatureLine, verifyLogSignature, type TrustedKey,
} from '../note';
import { AddCheckpointFormatError, parseAddCheckpoint, sizeConflict, type AddCheckpointRequest, type WitnessResponse } from './protocol';
import { witnessMigrations } from './schema';

export interface WitnessOptions {
  /** The witness's name in its cosignature lines (a schema-less URL, e.g. "hgd-node-1.example/witness"). */
  name: string;
  /** Its own Ed25519 key (not the node's request-signing key: one key per cosigner). */
  signingKey: SigningKey;
  /** The log it witnesses: origin and pinned Ed25519 public key (raw, base64). */
  log: { origin: string; publicKey: string };
  /** Clock, for tests. */
  now?: () => Date;
}

/** The witness's state for the log: the latest checkpoint it cosigned. */
export interface WitnessState {
  treeSize: number;
  rootHash: Uint8Array;
  /** The checkpoint note as the log signed it, with this witness's cosignature. */
  note: string;
  cosignedAt: string;
}

const TEXT = 'text/plain; charset=utf-8';
const WITNESS_LOCK_SPACE = 7_324_100;
const answer = (status: number, body: string): WitnessResponse => ({ status, body: body.endsWith('\n') ? body : `${body}\n`, contentType: TEXT });

interface StateRow {
  tree_size: number;
  root_hash: Buffer | Uint8Array;
  note: string;
  cosignature: string;
  cosigned_at: Date;
}

export class Witness {
  private readonly logKey: TrustedKey;

  private constructor(private readonly db: Database, private readonly options: WitnessOptions) {
    this.logKey = { name: options.log.origin, publicKey: fromBase64(options.log.publicKey) };
  }

  /** Opens the witness on its host's database (running its own migration). */
  static async open(db: Database, options: WitnessOptions): Promise<Witness> {
    if (fromBase64(options.log.publicKey).length !== 32) throw new Error('witness: the pinned log key must be a raw 32-byte Ed25519 public key, base64');
    if (/[\s+]/.test(options.name) || options.name === '') throw new Error('witness: the name must be non-empty, without spaces or "+"');
    await runMigrations(db, witnessMigrations);
    return new Witness(db, options);
  }

  get name(): string {
    return this.options.name;
  }

  /** The witness's public key (raw Ed25519, base64): what logs and verifiers pin. */
  get publicKey(): string {
    return this.options.signingKey.publicKeyBase64;
  }

  /** POST <prefix>/add-checkpoint with the request body as text. */
  async handle(body: string): Promise<WitnessResponse> {
    let req: AddCheckpointRequest;
    try {
      req = parseAddCheckpoint(body);
    } catch (err) {
      if (err instanceof AddCheckpointFormatError) return answer(400, err.message);
      throw err;
    }
    return this.addCheckpoint(req);
  }

  /** The add-checkpoint steps of c2sp.org/tlog-witness, in its order. */
  async addCheckpoint(req: AddCheckpointRequest): Promise<WitnessResponse> {
    let body: string;
    let checkpoint: ReturnType<typeof parseCheckpointBody>;
    try {
      const note = parseNote(req.note);
      body = note.body;
      checkpoint = parseCheckpointBody(body);
      if (checkpoint.origin !== this.logKey.name) return answer(404, `unknown log origin "${checkpoint.origin}"`);
      if (!verifyLogSignature(nodeCrypto, note, [this.logKey])) return answer(403, 'no signature on the checkpoint verifies with the pinned log key');
    } catch (err) {
      if (err instanceof NoteFormatError) return answer(400, err.message);
      throw err;
    }
    if (req.oldSize > checkpoint.treeSize) return answer(400, `old size ${req.oldSize} is larger than the checkpoint size ${checkpoint.treeSize}`);
    return this.db.knex.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [WITNESS_LOCK_SPACE, checkpoint.origin]);
      const latest = await this.latestRow(trx);
      const latestSize = latest ? Number(latest.tree_size) : 0;
      if (req.oldSize !== latestSize) return sizeConflict(latestSize);
      const refusal = this.checkConsistency(req, latest, checkpoint);
      if (refusal) return refusal;
      return this.cosign(trx, req.note, body, checkpoint, latest);
    });
  }

  /** The latest checkpoint this witness cosigned, with its cosignature (null: none yet). */
  async latest(): Promise<WitnessState | null> {
    const row = await this.latestRow(this.db.knex);
    return row ? { treeSize: Number(row.tree_size), rootHash: asBuffer(row.root_hash), note: row.note + row.cosignature, cosignedAt: new Date(row.cosigned_at).toISOString() } : null;
  }

  private latestRow(executor: Knex | Knex.Transaction): Promise<StateRow | undefined> {
    return executor('witness_cosigned').where({ origin: this.logKey.name }).orderBy('tree_size', 'desc').first();
  }

  private checkConsistency(req: AddCheckpointRequest, latest: StateRow | undefined, c: { treeSize: number; rootHash: Uint8Array }): WitnessResponse | null {
    if (!latest) return req.proof.length === 0 ? null : answer(422, 'the consistency proof must be empty when the old size is 0');
    const oldRoot = asBuffer(latest.root_hash);
    if (req.oldSize === c.treeSize) return equalBytes(oldRoot, c.rootHash) ? null : sizeConflict(req.oldSize);
    if (!verifyConsistencyWith(nodeTreeHasher, req.oldSize, c.treeSize, oldRoot, c.rootHash, req.proof)) {
      return answer(422, `the consistency proof from ${req.oldSize} to ${c.treeSize} does not verify`);
    }
    return null;
  }

  /** Signs "cosignature/v1", persists, then answers with the cosignature line. */
  private async cosign(trx: Knex.Transaction, note: string, body: string, c: { treeSize: number; rootHash: Uint8Array }, latest: StateRow | undefined): Promise<WitnessResponse> {
    const now = (this.options.now ?? (() => new Date()))();
    const timestamp = Math.floor(now.getTime() / 1000);
    const id = keyId(nodeCrypto, this.options.name, SIG_COSIGNATURE_V1, fromBase64(this.publicKey));
    const signature = signBytes(this.options.signingKey, cosignatureMessage(body, timestamp));
    const line = signatureLine(this.options.name, id, new Uint8Array([...uint64(timestamp), ...signature]));
    if (!latest || Number(latest.tree_size) !== c.treeSize) {
      const logOnly = note.slice(0, note.lastIndexOf('\n\n') + 2) + parseNote(note).signatures.filter((s) => s.name === this.logKey.name).map((s) => s.line).join('');
      await trx('witness_cosigned').insert({ origin: this.logKey.name, tree_size: c.treeSize, root_hash: Buffer.from(c.rootHash), note: logOnly, cosignature: line, cosigned_at: now });
    }
    return { status: 200, body: line, contentType: TEXT };
  }
}
