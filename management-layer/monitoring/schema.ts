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
];
