/**
 * The ledger's checkpointer: publishes checkpoints (Tessera's "publish" step). Publishing is
 *   1. sign   a checkpoint note over the verified tree (never past a damaged row) and store it;
 *   2. cosign ask every witness for a cosignature through the injected transport (C2SP tlog-witness,
 *             with a consistency proof from the size that witness last cosigned), verify each
 *             answer against the witness's pinned key and store it;
 *   3. count  the checkpoint is witnessed once `quorum` witnesses have cosigned it. Publishing waits
 *             for every witness up to `witnessTimeoutMs`; a later answer is still stored.
 * It runs after a write made `checkpointEvery` entries uncovered, and on a timer for the rest
 * (and to retry witnesses that did not answer). A witness that has cosigned a larger tree than the
 * ledger holds, or the same size with another root, is evidence of a rollback or a fork: the
 * ledger is marked damaged.
 */
import type { Database } from './db';
import type { SigningKey } from './signing-key';
import type { VerifiedTree } from './ledger-tree';
import { logSignedNote, signCheckpoint, type SignedCheckpoint } from './checkpoint';
import { CheckpointStore } from './checkpoint-store';
import { fromBase64 } from './bytes';
import { nodeCrypto } from './node-crypto';
import { parseNote, parseSignatureLines, verifyCosignatures, type TrustedKey } from './note';
import { formatAddCheckpoint, parseSizeConflict, type WitnessEndpoint, type WitnessTransport } from './witness/protocol';

export interface CheckpointerOptions {
  signingKey: SigningKey;
  origin: string;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  witnesses: WitnessEndpoint[];
  /** Cosignatures that make a checkpoint witnessed (0: witnessing is off). */
  quorum: number;
  transport?: WitnessTransport;
  witnessTimeoutMs: number;
  log?: (msg: string) => void;
}

export class Checkpointer {
  readonly store: CheckpointStore;
  private latestSigned: SignedCheckpoint | null = null;
  private publishing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly witnessKeys: TrustedKey[];
  /** The size each witness last cosigned, as far as this process knows. */
  private readonly witnessSize = new Map<string, number>();

  constructor(db: Database, private readonly tree: VerifiedTree, private readonly options: CheckpointerOptions) {
    this.witnessKeys = options.witnesses.map((w) => ({ name: w.name, publicKey: fromBase64(w.publicKey) }));
    this.store = new CheckpointStore(db, this.witnessKeys, options.quorum);
  }

  async start(): Promise<void> {
    this.latestSigned = await this.store.latest();
    this.timer = setInterval(() => {
      this.publishIfDue().catch((err) => this.options.log?.(`checkpointer: ${(err as Error).message}`));
    }, this.options.checkpointIntervalMs);
    this.timer.unref();
  }

  get latest(): SignedCheckpoint | null {
    return this.latestSigned;
  }

  /** After a write: sign once `checkpointEvery` entries are uncovered, then have it witnessed in the background. */
  async afterWrite(): Promise<void> {
    if (this.tree.size - (this.latestSigned?.treeSize ?? 0) < this.options.checkpointEvery) return;
    await this.sign();
    this.publish().catch((err) => this.options.log?.(`checkpointer: ${(err as Error).message}`));
  }

  /** Signs a checkpoint over every verified entry (or returns the one that already covers them). */
  async sign(): Promise<SignedCheckpoint | null> {
    await this.tree.sync();
    const size = this.tree.size;
    if (size === 0) return this.latestSigned;
    if (this.latestSigned && this.latestSigned.treeSize >= size) return this.latestSigned;
    await this.store.insert(signCheckpoint(this.options.signingKey, this.options.origin, size, this.tree.root(size)));
    this.latestSigned = await this.store.latest();
    return this.latestSigned;
  }

  /** Signs and collects cosignatures (one publication at a time). */
  publish(): Promise<void> {
    if (!this.publishing) {
      this.publishing = this.signAndCosign().finally(() => {
        this.publishing = null;
      });
    }
    return this.publishing;
  }

  private async publishIfDue(): Promise<void> {
    await this.tree.sync();
    const latest = this.latestSigned;
    const unsigned = this.tree.size > (latest?.treeSize ?? 0);
    const missing = latest !== null && this.hasTransport() && latest.cosignatures.length < this.witnessKeys.length;
    if (unsigned || missing) await this.publish();
  }

  private hasTransport(): boolean {
    return this.options.transport !== undefined && this.witnessKeys.length > 0;
  }

  private async signAndCosign(): Promise<void> {
    const checkpoint = await this.sign();
    if (!checkpoint || !this.hasTransport()) return;
    const asked = this.options.witnesses.filter((w) => !checkpoint.cosignatures.some((c) => c.witness === w.name));
    await this.untilSettled(asked.map((w) => this.requestCosignature(w, checkpoint)));
    this.latestSigned = (await this.store.at(checkpoint.treeSize)) ?? this.latestSigned;
  }

  /** Resolves once every request settled or the timeout passed (a late answer is still stored when it comes). */
  private untilSettled(requests: Array<Promise<boolean>>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.witnessTimeoutMs);
    });
    const settled = Promise.allSettled(requests).then(() => undefined);
    return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
  }

  /** One witness: add-checkpoint from the size it last cosigned; on 409 once more from the size it names. */
  private async requestCosignature(w: WitnessEndpoint, checkpoint: SignedCheckpoint): Promise<boolean> {
    let old = this.witnessSize.get(w.name) ?? (await this.store.largestCosignedBy(w.name));
    for (let attempt = 0; attempt < 2; attempt++) {
      if (old > checkpoint.treeSize) return this.witnessAhead(w, old);
      const proof = old > 0 ? this.tree.tree.consistencyProof(old, checkpoint.treeSize) : [];
      const res = await this.options.transport!(w, formatAddCheckpoint({ oldSize: old, proof, note: logSignedNote(checkpoint) }));
      if (res.status === 200) return this.accept(w, checkpoint, res.body);
      const theirs = parseSizeConflict(res);
      if (theirs === null) {
        this.options.log?.(`witness ${w.name} refused checkpoint ${checkpoint.treeSize}: ${res.status} ${res.body.slice(0, 200)}`);
        return false;
      }
      if (theirs === old) return this.witnessFork(w, checkpoint);
      old = theirs;
    }
    return false;
  }

  private async accept(w: WitnessEndpoint, checkpoint: SignedCheckpoint, answer: string): Promise<boolean> {
    const body = parseNote(checkpoint.note).body;
    const key = this.witnessKeys.filter((k) => k.name === w.name);
    const [cosig] = verifyCosignatures(nodeCrypto, body, parseSignatureLines(answer), key);
    if (!cosig) {
      this.options.log?.(`witness ${w.name} answered checkpoint ${checkpoint.treeSize} without a valid cosignature`);
      return false;
    }
    await this.store.insertCosignature(checkpoint.treeSize, { witness: w.name, timestamp: new Date(cosig.timestamp * 1000).toISOString(), line: cosig.line });
    this.witnessSize.set(w.name, checkpoint.treeSize);
    return true;
  }

  /** The witness cosigned a larger tree: fine if the ledger has grown since, a rollback if it has not. */
  private async witnessAhead(w: WitnessEndpoint, theirs: number): Promise<boolean> {
    await this.tree.sync();
    if (theirs > this.tree.size && !this.tree.damage) {
      this.tree.markDamaged({ seq: this.tree.size, kind: 'truncated', detail: `witness ${w.name} has cosigned a tree of ${theirs} entries but the ledger holds ${this.tree.size}` });
    }
    return false;
  }

  private witnessFork(w: WitnessEndpoint, checkpoint: SignedCheckpoint): boolean {
    this.tree.markDamaged({ seq: checkpoint.treeSize - 1, kind: 'bad-checkpoint', detail: `witness ${w.name} has cosigned another root for size ${checkpoint.treeSize}` });
    return false;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.publishing) await this.publishing;
  }
}
