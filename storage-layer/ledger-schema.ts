/** DDL for the ledger: append-only tables guarded by triggers, and the least-privilege role. */
import type { Migration } from './migrate';

/** The role the application connects as on real PostgreSQL: SELECT and INSERT on the ledger only. */
export const APP_ROLE = 'hgd_app';

const appendOnly = (table: string) => [
  `CREATE OR REPLACE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION hgd_reject_change()`,
  `CREATE OR REPLACE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION hgd_reject_change()`,
];

export const ledgerMigrations: Migration[] = [
  {
    id: 'storage-001-ledger',
    statements: [
      `CREATE TABLE ledger_entries (
        seq bigint PRIMARY KEY CHECK (seq >= 0),
        kind text NOT NULL,
        actor text NOT NULL,
        recorded_at timestamptz NOT NULL,
        canonical bytea NOT NULL,
        leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
        prev_hash bytea NOT NULL UNIQUE CHECK (octet_length(prev_hash) = 32)
      )`,
      `CREATE TABLE ledger_checkpoints (
        tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
        root_hash bytea NOT NULL,
        signed_at timestamptz NOT NULL,
        key_id text NOT NULL,
        signature bytea NOT NULL
      )`,
      `CREATE TABLE ledger_keys (
        key_id text PRIMARY KEY,
        public_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE OR REPLACE FUNCTION hgd_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'HGD ledger table % is append-only: % rejected', TG_TABLE_NAME, TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$`,
      ...appendOnly('ledger_entries'),
      ...appendOnly('ledger_checkpoints'),
      ...appendOnly('ledger_keys'),
    ],
  },
  {
    // Needs CREATEROLE; where the migrating user lacks it the step is skipped and logged,
    // and docs/storage.md says how an administrator creates the role by hand.
    id: 'storage-002-app-role',
    postgresOnly: true,
    optional: true,
    statements: [
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
           CREATE ROLE ${APP_ROLE} LOGIN;
         END IF;
       END $$`,
      `DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${APP_ROLE}', current_schema()); END $$`,
      `GRANT SELECT, INSERT ON ledger_entries, ledger_checkpoints, ledger_keys TO ${APP_ROLE}`,
    ],
  },
];
