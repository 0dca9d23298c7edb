/**
 * Tables of the usage layer: studies and their researchers, patients' grants, research queries and
 * who contributed to each. Contributors are pseudonyms and are read only by the patient's own
 * access log, never by a researcher-facing route.
 */
import type { Migration } from '../storage-layer/migrate';

export const usageMigrations: Migration[] = [
  {
    id: 'usage-001-consent-and-queries',
    statements: [
      `CREATE TABLE studies (
        id text PRIMARY KEY,
        title text NOT NULL,
        purpose text NOT NULL,
        min_cohort integer NOT NULL CHECK (min_cohort >= 2),
        epsilon_budget numeric(20, 6) NOT NULL CHECK (epsilon_budget > 0),
        epsilon_spent numeric(20, 6) NOT NULL DEFAULT 0,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        ledger_seq bigint NOT NULL,
        CHECK (epsilon_spent >= 0 AND epsilon_spent <= epsilon_budget)
      )`,
      `CREATE TABLE study_researchers (
        study text NOT NULL REFERENCES studies(id),
        researcher text NOT NULL,
        added_by text NOT NULL,
        added_at timestamptz NOT NULL DEFAULT now(),
        ledger_seq bigint NOT NULL,
        PRIMARY KEY (study, researcher)
      )`,
      `CREATE TABLE consent_grants (
        id text PRIMARY KEY,
        patient text NOT NULL,
        study text NOT NULL REFERENCES studies(id),
        purpose text NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz,
        source text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        ledger_seq bigint NOT NULL,
        revoke_ledger_seq bigint,
        CHECK (period_end IS NULL OR period_end > period_start)
      )`,
      'CREATE INDEX consent_grants_patient ON consent_grants (patient, created_at)',
      'CREATE INDEX consent_grants_cohort ON consent_grants (study, purpose) WHERE revoked_at IS NULL',
      `CREATE TABLE consent_grant_indicators (
        grant_id text NOT NULL REFERENCES consent_grants(id),
        indicator text NOT NULL,
        PRIMARY KEY (grant_id, indicator)
      )`,
      `CREATE TABLE research_queries (
        id text PRIMARY KEY,
        study text NOT NULL REFERENCES studies(id),
        researcher text NOT NULL,
        purpose text NOT NULL,
        indicators jsonb NOT NULL,
        aggregate text NOT NULL,
        window_from timestamptz,
        window_to timestamptz,
        options jsonb NOT NULL,
        epsilon numeric(20, 6) NOT NULL,
        privacy jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'suppressed', 'refused')),
        result jsonb,
        message text,
        contributors integer,
        epsilon_spent numeric(20, 6) NOT NULL DEFAULT 0,
        ledger_seq bigint,
        submitted_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      )`,
      'CREATE INDEX research_queries_study ON research_queries (study, submitted_at)',
      `CREATE TABLE query_contributors (
        query_id text NOT NULL REFERENCES research_queries(id),
        patient text NOT NULL,
        PRIMARY KEY (query_id, patient)
      )`,
      'CREATE INDEX query_contributors_patient ON query_contributors (patient)',
    ],
  },
  {
    // Patient-level privacy: contribution bounds per study, every patient's own ε budget (a privacy
    // filter across all studies), and the ε each query charged each patient.
    id: 'usage-002-patient-privacy',
    statements: [
      'ALTER TABLE studies ADD COLUMN max_contributions integer NOT NULL DEFAULT 1',
      `CREATE TABLE patient_privacy_spend (
        patient text NOT NULL,
        period_start date NOT NULL,
        spent numeric(20, 6) NOT NULL DEFAULT 0,
        PRIMARY KEY (patient, period_start)
      )`,
      'ALTER TABLE query_contributors ADD COLUMN epsilon numeric(20, 6) NOT NULL DEFAULT 0',
      'ALTER TABLE research_queries ADD COLUMN budget_period date',
    ],
  },
  {
    // Treatment grants (usage-layer/consent/grants.ts): a provider organisation as grantee instead of
    // a study. Exactly one of the two is set.
    id: 'usage-003-treatment-grants',
    statements: [
      'ALTER TABLE consent_grants ALTER COLUMN study DROP NOT NULL',
      'ALTER TABLE consent_grants ADD COLUMN grantee text',
      'ALTER TABLE consent_grants ADD CONSTRAINT consent_grants_one_grantee CHECK ((study IS NULL) <> (grantee IS NULL))',
      'CREATE INDEX consent_grants_grantee ON consent_grants (grantee, patient) WHERE grantee IS NOT NULL',
    ],
  },
  {
    // Care reads (usage-layer/care): who read which indicators of which patient, under which grants
    // or with which break-the-glass reason; each row has its `access` ledger entry.
    id: 'usage-004-care-reads',
    statements: [
      `CREATE TABLE care_reads (
        id text PRIMARY KEY,
        patient text NOT NULL,
        org text NOT NULL,
        reader text NOT NULL,
        indicators jsonb NOT NULL,
        grant_ids jsonb NOT NULL,
        break_glass boolean NOT NULL,
        reason text,
        records integer NOT NULL,
        ledger_seq bigint NOT NULL,
        read_at timestamptz NOT NULL DEFAULT now(),
        CHECK (break_glass = (reason IS NOT NULL))
      )`,
      'CREATE INDEX care_reads_patient ON care_reads (patient, read_at)',
    ],
  },
];
