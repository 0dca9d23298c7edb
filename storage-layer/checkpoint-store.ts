/**
 * Where signed checkpoints and their cosignatures are kept (ledger_checkpoints, ledger_cosignatures),
 * and how a stored row becomes a SignedCheckpoint. Cosignatures are re-verified against the
 * configured witness keys whenever they are read, so a row the database holds is never taken on trust.
 */
import type { Database } from './db';
import { asBuffer } from './db';
import type { Cosignature, LogSignature, SignedCheckpoint } from './checkpoint';
import { parseCheckpointBody, parseNote, verifyCosignatures, type TrustedKey } from './note';
import { nodeCrypto } from './node-crypto';

interface CheckpointRow {
  tree_size: number;
  root_hash: Buffer | Uint8Array;
  signed_at: Date;
  key_id: string;
  note: string;
}

interface CosignatureRow {
  tree_size: number;
  witness: string;
  line: string;
}

export class CheckpointStore {
  constructor(private readonly db: Database, private readonly witnesses: TrustedKey[], private readonly quorum: number) {}

  /** Records a log signature; if another process signed this size first, theirs stays on record. */
  async insert(sig: LogSignature): Promise<void> {
    await this.db.knex('ledger_checkpoints')
      .insert({ tree_size: sig.treeSize, root_hash: Buffer.from(sig.rootHash), signed_at: new Date(), key_id: sig.keyId, signature: Buffer.from(sig.signature), note: sig.note })
      .onConflict('tree_size')
      .ignore();
  }

  async insertCosignature(treeSize: number, c: Cosignature): Promise<void> {
    await this.db.knex('ledger_cosignatures')
      .insert({ tree_size: treeSize, witness: c.witness, cosigned_at: c.timestamp, line: c.line })
      .onConflict(['tree_size', 'witness'])
      .ignore();
  }

  async latest(): Promise<SignedCheckpoint | null> {
    const row = (await this.db.knex('ledger_checkpoints').whereNotNull('note').orderBy('tree_size', 'desc').first()) as CheckpointRow | undefined;
    return row ? this.assemble(row) : null;
  }

  async at(treeSize: number): Promise<SignedCheckpoint | null> {
    const row = (await this.db.knex('ledger_checkpoints').whereNotNull('note').where({ tree_size: treeSize }).first()) as CheckpointRow | undefined;
    return row ? this.assemble(row) : null;
  }

  /** The largest checkpoint this witness has cosigned, by our records (0 if none). */
  async largestCosignedBy(witness: string): Promise<number> {
    const row = await this.db.knex('ledger_cosignatures').where({ witness }).max('tree_size as max').first();
    return Number(row?.max ?? 0);
  }

  /** The first checkpoint covering entry `seq` that a quorum of witnesses cosigned. */
  async firstWitnessedCovering(seq: number): Promise<SignedCheckpoint | null> {
    if (this.quorum < 1) return null;
    const sizes = await this.db.knex('ledger_cosignatures')
      .select('tree_size').where('tree_size', '>', seq).groupBy('tree_size')
      .havingRaw('count(*) >= ?', [this.quorum]).orderBy('tree_size').limit(20);
    for (const { tree_size } of sizes as Array<{ tree_size: number }>) {
      const c = await this.at(Number(tree_size));
      if (c?.witnessedAt) return c;
    }
    return null;
  }

  /** The latest checkpoint a quorum of witnesses cosigned. */
  async latestWitnessed(): Promise<SignedCheckpoint | null> {
    if (this.quorum < 1) return null;
    const sizes = await this.db.knex('ledger_cosignatures')
      .select('tree_size').groupBy('tree_size').havingRaw('count(*) >= ?', [this.quorum])
      .orderBy('tree_size', 'desc').limit(20);
    for (const { tree_size } of sizes as Array<{ tree_size: number }>) {
      const c = await this.at(Number(tree_size));
      if (c?.witnessedAt) return c;
    }
    return null;
  }

  private async assemble(row: CheckpointRow): Promise<SignedCheckpoint> {
    const rows = (await this.db.knex('ledger_cosignatures').where({ tree_size: row.tree_size }).orderBy('cosigned_at')) as CosignatureRow[];
    const logNote = row.note;
    const body = parseNote(logNote).body;
    const lines = rows.map((r) => r.line);
    const verified = verifyCosignatures(nodeCrypto, body, lines.length ? parseNote(`${body}\n${lines.join('')}`).signatures : [], this.witnesses)
      .sort((a, b) => a.timestamp - b.timestamp);
    const cosignatures = verified.map((v) => ({ witness: v.witness, timestamp: new Date(v.timestamp * 1000).toISOString(), line: v.line }));
    const quorumAt = this.quorum >= 1 && verified.length >= this.quorum ? cosignatures[this.quorum - 1]!.timestamp : null;
    return {
      origin: parseCheckpointBody(body).origin,
      treeSize: Number(row.tree_size),
      rootHash: asBuffer(row.root_hash).toString('hex'),
      signedAt: new Date(row.signed_at).toISOString(),
      keyId: row.key_id,
      note: logNote + cosignatures.map((c) => c.line).join(''),
      cosignatures,
      witnessedAt: quorumAt,
    };
  }
}
