/**
 * Single-use query ids, kept in the node's own database (node_query_ids, migrations.ts): a query id is
 * recorded before the query runs, and a second request with the same id, also after a restart of the
 * node, is refused. The id is inserted in its own statement (not in a transaction with the query), so
 * a failed query keeps its id used: the coordinator retries with a fresh one.
 */
import { DuplicateMessageError } from '../../parties/errors';
import type { Database } from '../../storage-layer/db';
import { PG_UNIQUE_VIOLATION } from '../../storage-layer/errors';

/** Records `queryId` as used at this node; throws DuplicateMessageError when it already was. */
export async function claimQueryId(db: Database, queryId: string, kind: 'linear' | 'product' | 'filtered'): Promise<void> {
  try {
    await db.knex('node_query_ids').insert({ query_id: queryId, kind });
  } catch (err) {
    if ((err as { code?: unknown }).code === PG_UNIQUE_VIOLATION) throw new DuplicateMessageError(`query ${queryId} was already run at this node`);
    throw err;
  }
}
