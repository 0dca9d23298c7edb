/**
 * DDL for the ledger: append-only tables guarded by triggers, the append function that is the only
 * way the application role can add an entry, and that role's privileges (roles.ts grants them).
 */
import type { Migration } from './migrate';
import { LEDGER_KINDS } from './ledger-entry';

/** The role the application connects as on real PostgreSQL (or a role that is a member of it). */
export const APP_ROLE = 'hgd_app';

/** Advisory-lock key every writer (in every process) takes before reading the head. */
export const HEAD_LOCK = 7_324_000;

/**
 * What the application role may do on the ledger's tables; every other table in the schema gets
 * SELECT, INSERT, UPDATE, DELETE. Entries are added only through hgd_ledger_append (below);
 * checkpoints, keys and cosignatures are signed, so a forged row is caught by its signature.
 */
export const APP_ROLE_TABLE_PRIVILEGES: Record<string, string> = {
  ledger_entries: 'SELECT',
  ledger_checkpoints: 'SELECT, INSERT',
  ledger_keys: 'SELECT, INSERT',
  ledger_cosignatures: 'SELECT, INSERT',
  hgd_migrations: 'SELECT',
};

/** The append function's signature, for GRANT and ALTER. */
export const APPEND_FUNCTION = 'hgd_ledger_append(bigint, bytea, text, text[], text[], bytea, integer[], integer[], bytea)';

const appendOnly = (table: string) => [
  `CREATE OR REPLACE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION hgd_reject_change()`,
  `CREATE OR REPLACE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION hgd_reject_change()`,
];

const kindList = LEDGER_KINDS.map((k) => `'${k}'`).join(', ');

/**
 * hgd_ledger_append(first seq, prev, time, kinds, actors, payloads, payload offsets and lengths, leaf hashes):
 * appends one batch after the head. It runs as the ledger's owner (SECURITY DEFINER) and trusts
 * nothing it is given: it takes the head lock, checks that the batch starts right after the head
 * and on the head's leaf hash (and that the head row still hashes to its leaf), builds each
 * entry's canonical bytes itself from kind, actor, payload (one JSON object), prev, seq and time,
 * computes SHA-256(0x00 || bytes) and refuses the batch unless the leaf hashes equal the writer's.
 * The batch travels as a few binary parameters (all payloads concatenated, all leaf hashes as
 * 32-byte runs) instead of per-row arrays: node-pg escapes each array element as text.
 * Errors: 23505 when the head moved (the writer re-reads it and retries), XX001 when the head
 * row is damaged, 22023 for a malformed batch.
 */
const APPEND_FUNCTION_SQL = `CREATE OR REPLACE FUNCTION hgd_ledger_append(p_first_seq bigint, p_prev bytea, p_time text,
    p_kinds text[], p_actors text[], p_payloads bytea, p_offs integer[], p_lens integer[], p_leaves bytea)
  RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_kinds), 0);
  head record;
  computed bytea;
BEGIN
  IF n = 0 OR n <> cardinality(p_actors) OR n <> cardinality(p_lens) OR n <> cardinality(p_offs)
     OR octet_length(p_leaves) <> 32 * n OR octet_length(p_prev) <> 32 THEN
    RAISE EXCEPTION 'hgd_ledger_append: the kinds, actors, payload lengths and leaf hashes do not describe one batch' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_time !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$' THEN
    RAISE EXCEPTION 'hgd_ledger_append: time % is not an ISO 8601 UTC time with milliseconds', p_time USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(${HEAD_LOCK});
  SELECT seq, leaf_hash, canonical INTO head FROM ledger_entries ORDER BY seq DESC LIMIT 1;
  IF NOT FOUND THEN
    IF p_first_seq <> 0 OR p_prev <> '\\x${'00'.repeat(32)}'::bytea THEN
      RAISE EXCEPTION 'ledger head moved: the ledger is empty but the batch starts at seq %', p_first_seq USING ERRCODE = 'unique_violation';
    END IF;
  ELSIF p_first_seq <> head.seq + 1 THEN
    RAISE EXCEPTION 'ledger head moved: the batch starts at seq % but the head is entry %', p_first_seq, head.seq USING ERRCODE = 'unique_violation';
  ELSIF head.leaf_hash <> sha256('\\x00'::bytea || head.canonical) THEN
    RAISE EXCEPTION 'ledger entry % does not hash to its stored leaf hash: refusing to chain onto it', head.seq USING ERRCODE = 'data_corrupted';
  ELSIF head.leaf_hash <> p_prev THEN
    RAISE EXCEPTION 'ledger entry % is not the entry the writer verified: it was rewritten', head.seq USING ERRCODE = 'data_corrupted';
  END IF;
  -- A row whose kind, actor or payload is invalid is left out, so the leaf hashes no longer match.
  WITH r AS (
    SELECT i, kind, actor, substring(p_payloads FROM off + 1 FOR len) AS payload,
           CASE WHEN i = 1 THEN p_prev ELSE substring(p_leaves FROM (i::integer - 2) * 32 + 1 FOR 32) END AS prev
    FROM unnest(p_kinds, p_actors, p_offs, p_lens) WITH ORDINALITY AS t(kind, actor, off, len, i)
    WHERE kind IN (${kindList}) AND actor <> ''
  ), c AS (
    SELECT i, kind, actor, payload, prev,
           convert_to('{"actor":' || to_json(actor)::text || ',"kind":"' || kind || '","payload":', 'UTF8') || payload
             || convert_to(',"prev":"' || encode(prev, 'hex') || '","seq":' || (p_first_seq + i - 1) || ',"time":"' || p_time || '","v":1}', 'UTF8') AS canonical
    FROM r
  ), ins AS (
    INSERT INTO ledger_entries (seq, kind, actor, recorded_at, canonical, leaf_hash, prev_hash)
    SELECT p_first_seq + i - 1, kind, actor, p_time::timestamptz, canonical, sha256('\\x00'::bytea || canonical), prev
    FROM c WHERE json_typeof(convert_from(payload, 'UTF8')::json) = 'object'
    RETURNING seq, leaf_hash
  )
  SELECT string_agg(leaf_hash, ''::bytea ORDER BY seq) INTO computed FROM ins;
  IF computed IS DISTINCT FROM p_leaves THEN
    RAISE EXCEPTION 'hgd_ledger_append: a kind is not one of ${LEDGER_KINDS.join(', ')}, an actor is empty, a payload is not a JSON object, or the leaf hashes differ from the ones the database computed' USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $fn$`;

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
    // and docs/storage.md says how an administrator creates the role by hand. Its privileges
    // are granted after every migration run (roles.ts).
    id: 'storage-002-app-role',
    postgresOnly: true,
    optional: true,
    statements: [
      `DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
           CREATE ROLE ${APP_ROLE} LOGIN;
         END IF;
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another database's migration created it first
       END $$`,
    ],
  },
  {
    id: 'storage-003-append-function',
    statements: [
      APPEND_FUNCTION_SQL,
      // Pin the function's search path to this schema (pg_temp last), so a caller cannot shadow its tables.
      `DO $$ BEGIN EXECUTE format('ALTER FUNCTION ${APPEND_FUNCTION} SET search_path = %I, pg_temp', current_schema()); END $$`,
      `REVOKE ALL ON FUNCTION ${APPEND_FUNCTION} FROM PUBLIC`,
    ],
  },
  {
    // Checkpoints become C2SP signed notes (note.ts); witnesses' cosignatures are kept beside them.
    id: 'storage-004-witnessed-checkpoints',
    statements: [
      'ALTER TABLE ledger_checkpoints ADD COLUMN note text',
      `CREATE TABLE ledger_cosignatures (
        tree_size bigint NOT NULL REFERENCES ledger_checkpoints (tree_size),
        witness text NOT NULL,
        cosigned_at timestamptz NOT NULL,
        line text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tree_size, witness)
      )`,
      ...appendOnly('ledger_cosignatures'),
    ],
  },
];
