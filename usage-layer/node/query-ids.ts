/**
 * Single-use query ids, kept in the node's own database (node_query_ids, migrations.ts): a query id is
 * recorded before the query runs, and a second request with the same id, also after a restart of the
 * node, is refused. The id is inserted in its own statement (not in a transaction with the query), so
 * a failed query keeps its id used: the coordinator retries with a fresh one.
 *
 * Ids are kept only as long as a replay of their request could pass the timestamp check
 * (QUERY_ID_RETENTION_MS); older ones are deleted whenever an id is claimed, so the table holds the
 * last few minutes of queries, not every query ever run. A replayed request older than that is
 * refused as stale (parties/request-signing.ts); a fresh request reusing an old id could only come
 * from the gateway itself, which draws every id at random. Both times (started_at and the cut-off)
 * are the database's clock, so a database whose clock differs from the node's keeps ids no shorter.
 */
import { DuplicateMessageError } from '../../parties/errors';
import { MAX_CLOCK_SKEW_MS } from '../../parties/request-signing';
import type { Database } from '../../storage-layer/db';
import { PG_UNIQUE_VIOLATION } from '../../storage-layer/errors';

/**
 * How long a used id is kept: a request is accepted until MAX_CLOCK_SKEW_MS after its timestamp, and
 * that timestamp may be up to MAX_CLOCK_SKEW_MS ahead of the node's clock when the id is claimed, so a
 * replay can pass the timestamp check for at most 2 × MAX_CLOCK_SKEW_MS after the claim.
 */
export const QUERY_ID_RETENTION_MS = 2 * MAX_CLOCK_SKEW_MS;

/** Deletes the ids claimed more than `retentionMs` ago (database clock); resolves with how many. */
export async function pruneQueryIds(db: Database, retentionMs = QUERY_ID_RETENTION_MS): Promise<number> {
  return db.knex('node_query_ids').where('started_at', '<', db.knex.raw("now() - (? * interval '1 millisecond')", [retentionMs])).delete();
}

/** The node's query kinds (its routes POST /aggregate/<kind>). */
export type QueryKind = 'linear' | 'product' | 'filtered' | 'clamped' | 'histogram';

/** Records `queryId` as used at this node (pruning expired ids first); throws DuplicateMessageError when it already was. */
export async function claimQueryId(db: Database, queryId: string, kind: QueryKind): Promise<void> {
  await pruneQueryIds(db);
  try {
    await db.knex('node_query_ids').insert({ query_id: queryId, kind });
  } catch (err) {
    if ((err as { code?: unknown }).code === PG_UNIQUE_VIOLATION) throw new DuplicateMessageError(`query ${queryId} was already run at this node`);
    throw err;
  }
}
