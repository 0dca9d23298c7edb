/** Tables of the management layer. Record bodies are ciphertext; identifiers are pseudonyms. */
import type { Migration } from '../../storage-layer/migrate';

export const ingestMigrations: Migration[] = [
  {
    id: 'management-001-records',
    statements: [
      `CREATE TABLE patients (
        pseudonym text PRIMARY KEY,
        wrapped_key bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ingest_batches (
        id text PRIMARY KEY,
        provider text NOT NULL,
        format text NOT NULL,
        bundle_type text,
        received_at timestamptz NOT NULL DEFAULT now(),
        accepted integer NOT NULL,
        duplicate integer NOT NULL,
        rejected integer NOT NULL,
        ledger_seq bigint
      )`,
      `CREATE TABLE records (
        id text PRIMARY KEY,
        patient text NOT NULL REFERENCES patients(pseudonym),
        indicator text NOT NULL,
        effective_start timestamptz NOT NULL,
        effective_end timestamptz,
        provider text NOT NULL,
        source_key text NOT NULL,
        content_key text NOT NULL,
        body bytea,
        salt bytea,
        batch_id text NOT NULL REFERENCES ingest_batches(id),
        shared_at timestamptz,
        erased_at timestamptz,
        UNIQUE (provider, source_key),
        UNIQUE (provider, content_key)
      )`,
      'CREATE INDEX records_patient_indicator ON records (patient, indicator, effective_start)',
      'CREATE INDEX records_unshared ON records (shared_at) WHERE shared_at IS NULL',
      `CREATE TABLE quarantine (
        id bigserial PRIMARY KEY,
        batch_id text NOT NULL REFERENCES ingest_batches(id),
        provider text NOT NULL,
        ref text NOT NULL,
        pointer text NOT NULL,
        reason text NOT NULL,
        raw bytea,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE INDEX quarantine_provider ON quarantine (provider, batch_id)',
    ],
  },
];
