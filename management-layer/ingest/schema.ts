/** Tables of the management layer. Record bodies are ciphertext; identifiers are pseudonyms. */
import type { Migration } from '../../storage-layer/migrate';
import type { KeyRing } from './envelope';
import { sealLegacyQuarantine } from './quarantine';

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
  {
    // Patient identity scoped by provider, idempotent batches, a quarantine that keeps what was sent.
    id: 'management-002-links-batches-quarantine',
    statements: [
      // A provider's reference ('Patient/1', a fullUrl), as a keyed digest, -> the pseudonym of the identifier its Patient gave.
      `CREATE TABLE patient_links (
        provider text NOT NULL,
        ref_digest text NOT NULL,
        pseudonym text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (provider, ref_digest)
      )`,
      // Providers that may have records under an identity made up before this migration (see patient-systems.ts).
      'CREATE TABLE legacy_subject_providers (provider text PRIMARY KEY)',
      'INSERT INTO legacy_subject_providers (provider) SELECT DISTINCT provider FROM records',
      // What was sent and what came of it, as keyed digests: the same batch again is answered from the first.
      'ALTER TABLE ingest_batches ADD COLUMN content_digest text',
      'ALTER TABLE ingest_batches ADD COLUMN outcome_digest text',
      'ALTER TABLE ingest_batches ADD COLUMN csv_header bytea',
      'CREATE UNIQUE INDEX ingest_batches_repeat ON ingest_batches (provider, content_digest, outcome_digest)',
      'ALTER TABLE quarantine ADD COLUMN position integer',
      'ALTER TABLE quarantine ADD COLUMN meta bytea',
      'ALTER TABLE quarantine ADD COLUMN sent bytea',
    ],
  },
];

/** Migrations that rewrite stored data with the key ring; they run after the ones above. */
export function ingestDataMigrations(keys: KeyRing): Migration[] {
  return [
    {
      id: 'management-003-quarantine-sealed',
      statements: [],
      run: (trx) => sealLegacyQuarantine(trx, keys),
    },
    {
      // A batch whose records were stored marked shared before the nodes answered (share-claims.ts).
      id: 'management-004-share-claims',
      statements: [
        'ALTER TABLE ingest_batches ADD COLUMN shares_pending boolean NOT NULL DEFAULT false',
        'CREATE INDEX ingest_batches_shares_pending ON ingest_batches (received_at) WHERE shares_pending',
      ],
    },
  ];
}
