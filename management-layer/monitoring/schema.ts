/** Tables of remote monitoring: rules, their durable window state, alerts, recipients, webhooks, deliveries. */
import type { Migration } from '../../storage-layer/migrate';

export const monitoringMigrations: Migration[] = [
  {
    id: 'monitoring-001-rules-alerts-webhooks',
    statements: [
      `CREATE TABLE monitoring_rules (
        id text PRIMARY KEY,
        patient text NOT NULL,
        indicator text NOT NULL,
        condition text NOT NULL,
        notify jsonb NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        ledger_seq bigint NOT NULL
      )`,
      'CREATE INDEX monitoring_rules_patient ON monitoring_rules (patient, indicator) WHERE deleted_at IS NULL',
      `CREATE TABLE monitoring_rule_state (
        rule_id text PRIMARY KEY REFERENCES monitoring_rules(id),
        state jsonb NOT NULL
      )`,
      // Batches whose records were evaluated (in the same transaction as their state and alerts).
      `CREATE TABLE monitoring_batches (
        batch_id text PRIMARY KEY,
        evaluated_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE monitoring_alerts (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        kind text NOT NULL CHECK (kind IN ('rule', 'break-glass')),
        patient text NOT NULL,
        rule_id text,
        detail jsonb NOT NULL,
        ledger_seq bigint NOT NULL,
        raised_at timestamptz NOT NULL DEFAULT now()
      )`,
      'CREATE INDEX monitoring_alerts_patient ON monitoring_alerts (patient, seq)',
      `CREATE TABLE monitoring_alert_recipients (
        alert_seq bigint NOT NULL REFERENCES monitoring_alerts(seq),
        recipient text NOT NULL,
        PRIMARY KEY (recipient, alert_seq)
      )`,
      `CREATE TABLE monitoring_webhooks (
        id text PRIMARY KEY,
        owner text NOT NULL,
        url text NOT NULL,
        secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`,
      'CREATE INDEX monitoring_webhooks_owner ON monitoring_webhooks (owner) WHERE deleted_at IS NULL',
      `CREATE TABLE monitoring_deliveries (
        webhook_id text NOT NULL REFERENCES monitoring_webhooks(id),
        alert_seq bigint NOT NULL REFERENCES monitoring_alerts(seq),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        last_error text,
        PRIMARY KEY (webhook_id, alert_seq)
      )`,
      'CREATE INDEX monitoring_deliveries_due ON monitoring_deliveries (next_attempt_at) WHERE delivered_at IS NULL',
    ],
  },
  {
    // Rules edited in place: each version of a rule (created, changed, deleted) with its ledger entry,
    // so the patient sees a rule's history. Rules from before are backfilled with their creation (and,
    // when deleted, a deletion whose actor and ledger seq were not kept; its entry is on the ledger).
    id: 'monitoring-002-rule-versions',
    statements: [
      'ALTER TABLE monitoring_rules ADD COLUMN version integer NOT NULL DEFAULT 1',
      'ALTER TABLE monitoring_rules ADD COLUMN updated_at timestamptz',
      `CREATE TABLE monitoring_rule_versions (
        rule_id text NOT NULL REFERENCES monitoring_rules(id),
        version integer NOT NULL,
        action text NOT NULL CHECK (action IN ('created', 'changed', 'deleted')),
        condition text NOT NULL,
        notify jsonb NOT NULL,
        state_reset boolean NOT NULL DEFAULT false,
        changed_by text NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now(),
        ledger_seq bigint,
        PRIMARY KEY (rule_id, version)
      )`,
      `INSERT INTO monitoring_rule_versions (rule_id, version, action, condition, notify, changed_by, changed_at, ledger_seq)
        SELECT id, 1, 'created', condition, notify, created_by, created_at, ledger_seq FROM monitoring_rules`,
      `INSERT INTO monitoring_rule_versions (rule_id, version, action, condition, notify, changed_by, changed_at, ledger_seq)
        SELECT id, 2, 'deleted', condition, notify, '(not recorded)', deleted_at, NULL FROM monitoring_rules WHERE deleted_at IS NOT NULL`,
      'UPDATE monitoring_rules SET version = 2 WHERE deleted_at IS NOT NULL',
    ],
  },
  {
    // Optimistic evaluation (engine.ts saveIfCurrent): every write of a window state bumps its epoch,
    // so a state saved from an unlocked read is written only if nobody wrote it since; the function
    // makes that one statement all or nothing (serialization_failure when a row was not current).
    id: 'monitoring-004-state-epoch',
    statements: [
      'ALTER TABLE monitoring_rule_state ADD COLUMN epoch bigint NOT NULL DEFAULT 0',
      `CREATE OR REPLACE FUNCTION hgd_monitoring_current(updated bigint, expected bigint) RETURNS bigint LANGUAGE plpgsql AS $$
      BEGIN
        IF updated <> expected THEN
          RAISE EXCEPTION 'monitoring state changed since it was read (% of % rows current)', updated, expected USING ERRCODE = '40001';
        END IF;
        RETURN updated;
      END $$`,
    ],
  },
];
