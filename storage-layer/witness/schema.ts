/**
 * A witness's own table, in the database of the node that hosts it: every checkpoint it cosigned,
 * per log origin. The latest (largest) is the state the C2SP protocol needs; the history is kept
 * as evidence (a log's signed checkpoint it cosigned cannot be taken back). Append-only.
 */
import type { Migration } from '../migrate';

export const witnessMigrations: Migration[] = [
  {
    id: 'witness-001-cosigned',
    statements: [
      `CREATE TABLE witness_cosigned (
        origin text NOT NULL,
        tree_size bigint NOT NULL CHECK (tree_size >= 0),
        root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
        note text NOT NULL,
        cosignature text NOT NULL,
        cosigned_at timestamptz NOT NULL,
        PRIMARY KEY (origin, tree_size)
      )`,
      `CREATE OR REPLACE FUNCTION hgd_witness_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'witness table % is append-only: % rejected', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
       END $$`,
      'CREATE OR REPLACE TRIGGER witness_cosigned_append_only BEFORE UPDATE OR DELETE ON witness_cosigned FOR EACH ROW EXECUTE FUNCTION hgd_witness_append_only()',
      'CREATE OR REPLACE TRIGGER witness_cosigned_no_truncate BEFORE TRUNCATE ON witness_cosigned FOR EACH STATEMENT EXECUTE FUNCTION hgd_witness_append_only()',
    ],
  },
];
