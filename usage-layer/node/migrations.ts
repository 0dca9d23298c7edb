/**
 * A compute node's own schema (its own database, separate from the gateway's). A node stores only what
 * it needs to aggregate: record id, pseudonym, indicator, effective time, fixed-point scale, dealing id,
 * source kind (provider or patient-reported) and its SHARES of x and x² (numeric(39,0), see mpc/codec.ts). No provider, no unit, no plaintext value.
 */
import type { Migration } from '../../storage-layer/migrate';

export const nodeMigrations: Migration[] = [
  {
    id: 'node-001-shares',
    statements: [
      `CREATE TABLE node_shares (
        record_id text PRIMARY KEY,
        pseudonym text NOT NULL,
        indicator text NOT NULL,
        effective_start timestamptz NOT NULL,
        effective_end timestamptz,
        scale smallint NOT NULL,
        dealing bigint NOT NULL,
        rid_hash bigint NOT NULL,
        share numeric(39, 0) NOT NULL,
        square numeric(39, 0) NOT NULL
      )`,
      'CREATE INDEX node_shares_indicator_start ON node_shares (indicator, effective_start)',
      'CREATE INDEX node_shares_pairing ON node_shares (indicator, pseudonym, effective_start)',
      `CREATE TABLE node_hist_shares (
        record_id text PRIMARY KEY,
        dealing bigint NOT NULL,
        hist_key text NOT NULL,
        hist numeric(39, 0)[] NOT NULL
      )`,
      'CREATE TABLE node_histograms (key text PRIMARY KEY, edges text NOT NULL)',
      // The scales each indicator's records use: a query of a single-scale indicator (the usual case) then
      // needs no min/max or GROUP BY over the rows (about 20 % of the scan time at 10^6 rows).
      'CREATE TABLE node_indicator_scales (indicator text NOT NULL, scale smallint NOT NULL, PRIMARY KEY (indicator, scale))',
    ],
  },
  {
    // Every query id this node has run in the last QUERY_ID_RETENTION_MS (query-ids.ts prunes older
    // ones), recorded before the query runs: an id is single use, also across restarts (a replayed
    // request is refused with DuplicateMessageError, or as stale once its id is pruned).
    id: 'node-002-query-ids',
    statements: [
      `CREATE TABLE node_query_ids (
        query_id text PRIMARY KEY,
        kind text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
      )`,
    ],
  },
  {
    // Who reported each record (ShareBatchItem.source): research queries count patient-reported records
    // only when asked (RecordFilter.includePatientReported). Rows stored before this column are marked
    // as a provider's: no dealer sent a source then.
    id: 'node-003-share-source',
    statements: [
      "ALTER TABLE node_shares ADD COLUMN source text NOT NULL DEFAULT 'provider' CHECK (source IN ('provider', 'patient'))",
    ],
  },
  {
    // Histograms run on secure comparisons over the stored x (usage-layer/coordinator/edge-histogram.ts):
    // the one-hot shares dealt with each record before (13 field elements a record, most of ingest's
    // sharing cost) are read by nothing, and go.
    id: 'node-004-drop-one-hot',
    statements: ['DROP TABLE node_hist_shares', 'DROP TABLE node_histograms'],
  },
];

/**
 * Tables that hold a node's record data: shares and their metadata (for tests and tools that inspect
 * a node's database). The node also owns node_query_ids, which holds only the ids of its recent queries.
 */
export const NODE_TABLES = ['node_shares', 'node_indicator_scales'] as const;
