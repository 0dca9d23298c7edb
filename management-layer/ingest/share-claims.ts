/**
 * Sharing a fresh upload without writing its records twice. Marking each record shared after the nodes
 * answered (UPDATE records SET shared_at) rewrote every row and its index entries: nearly as much PostgreSQL
 * work as storing it (30–45 against about 50 ms per 1,000 records; docs/benchmarks.md, "Ingest end to end"). Instead, when a share
 * sink is set, an upload's records are stored already marked (`shared_at` = the upload's time) and its batch
 * row carries `shares_pending`, all in the ingest transaction; after the distribution:
 *   - every node holds the shares: one UPDATE clears the batch's flag;
 *   - a node failed (or the call threw): the records are unmarked (shared_at NULL, for the outbox), then
 *     the flag is cleared.
 * A gateway that stops between the commit and the flag's clearing leaves the flag set: recover() (run by
 * the outbox before it looks for unshared records) unmarks the records of every flagged batch that no upload
 * of this process is still sharing and that is older than GRACE_MS (a batch committed by another process or
 * just now). Sharing a record twice is safe: a newer dealing supersedes the older on every node
 * (management-layer/sharing/distribute.ts). Recovery finds a batch's records by a scan (records has no index
 * on batch_id, to keep inserts cheap); it runs only after such a stop.
 */
import type { Database } from '../../storage-layer/db';

/** A flagged batch younger than this is taken to be still in flight in some gateway process. */
const GRACE_MS = 10 * 60_000;

export class ShareClaims {
  /** Batches whose distribution this process has not finished. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly db: Database) {}

  /** Call right after the ingest transaction committed a claimed batch, before distributing it. */
  begin(batchId: string): void {
    this.inFlight.add(batchId);
  }

  /** Settles a claimed batch: `delivered` false unmarks `recordIds` so the outbox shares them again. */
  async settle(batchId: string, recordIds: string[], delivered: boolean): Promise<void> {
    try {
      if (!delivered) await this.unmark(recordIds);
      await this.db.knex('ingest_batches').where({ id: batchId }).update({ shares_pending: false });
    } finally {
      this.inFlight.delete(batchId);
    }
  }

  /** Unmarks the records of batches left flagged by a gateway that stopped; returns how many batches. */
  async recover(): Promise<number> {
    const cutoff = new Date(Date.now() - GRACE_MS);
    const rows = (await this.db.knex('ingest_batches').where({ shares_pending: true }).andWhere('received_at', '<', cutoff).select('id')) as Array<{ id: string }>;
    const stale = rows.map((r) => r.id).filter((id) => !this.inFlight.has(id));
    if (!stale.length) return 0;
    await this.db.knex.transaction(async (trx) => {
      await trx('records').whereIn('batch_id', stale).whereNotNull('shared_at').update({ shared_at: null });
      await trx('ingest_batches').whereIn('id', stale).update({ shares_pending: false });
    });
    return stale.length;
  }

  private async unmark(recordIds: string[]): Promise<void> {
    for (let i = 0; i < recordIds.length; i += 1000) {
      await this.db.knex('records').whereIn('id', recordIds.slice(i, i + 1000)).update({ shared_at: null });
    }
  }
}
