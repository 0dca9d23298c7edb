/**
 * Alerts: each one is a `monitoring` ledger entry (naming rule, patient, record and time, never the
 * value), a row with its recipients, and one pending delivery per registered webhook of a recipient,
 * all written in the caller's transaction. The alert id is derived from what raised it (rule and
 * reading, or the care read), so evaluating the same reading twice cannot raise a second alert.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Ledger } from '../../storage-layer/ledger';

/** `patient:<pseudonym>` or `org:<organisation>`. */
export type Recipient = string;

export interface Alert {
  /** Monotonic position (the SSE event id). */
  seq: number;
  /** Stable id (webhook deliveries repeat it). */
  id: string;
  kind: 'rule' | 'break-glass';
  patient: string;
  ruleId: string | null;
  detail: Record<string, unknown>;
  recipients: Recipient[];
  ledgerSeq: number;
  raisedAt: string;
}

export interface AlertRow {
  seq: number | string;
  id: string;
  kind: Alert['kind'];
  patient: string;
  rule_id: string | null;
  detail: Record<string, unknown> | string;
  ledger_seq: number | string;
  raised_at: Date;
}

export function alertId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

export function fromAlertRow(r: AlertRow, recipients: Recipient[]): Alert {
  return {
    seq: Number(r.seq),
    id: r.id,
    kind: r.kind,
    patient: r.patient,
    ruleId: r.rule_id,
    detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
    recipients,
    ledgerSeq: Number(r.ledger_seq),
    raisedAt: new Date(r.raised_at).toISOString(),
  };
}

/** Inserts an alert (nothing when its id exists) with its ledger entry, recipients and deliveries. */
export async function insertAlert(trx: Knex.Transaction, ledger: Ledger, a: Omit<Alert, 'seq' | 'ledgerSeq' | 'raisedAt'>, ledgerPayload: Record<string, unknown>): Promise<Alert | null> {
  if (await trx('monitoring_alerts').where({ id: a.id }).first('seq')) return null;
  const [entry] = await ledger.appendWithin(trx, [{ kind: 'monitoring', actor: 'gateway:monitor', payload: { action: 'alert', alertId: a.id, kind: a.kind, patient: a.patient, ruleId: a.ruleId, recipients: a.recipients, ...ledgerPayload } }]);
  const [row] = (await trx('monitoring_alerts').insert({ id: a.id, kind: a.kind, patient: a.patient, rule_id: a.ruleId, detail: JSON.stringify(a.detail), ledger_seq: entry!.seq }).returning('*')) as AlertRow[];
  const seq = Number(row!.seq);
  if (a.recipients.length) await trx('monitoring_alert_recipients').insert(a.recipients.map((recipient) => ({ alert_seq: seq, recipient })));
  const hooks = (await trx('monitoring_webhooks').whereIn('owner', a.recipients).whereNull('deleted_at').select('id')) as Array<{ id: string }>;
  if (hooks.length) await trx('monitoring_deliveries').insert(hooks.map((h) => ({ webhook_id: h.id, alert_seq: seq })));
  return fromAlertRow(row!, a.recipients);
}

/** Alerts for a recipient after `afterSeq` (SSE resume), oldest first. */
export async function alertsFor(knex: Knex, recipient: Recipient, afterSeq: number, limit = 1000): Promise<Alert[]> {
  const rows = (await knex('monitoring_alerts as a')
    .join('monitoring_alert_recipients as r', 'r.alert_seq', 'a.seq')
    .where('r.recipient', recipient)
    .andWhere('a.seq', '>', afterSeq)
    .orderBy('a.seq')
    .limit(limit)
    .select('a.*')) as AlertRow[];
  return withRecipients(knex, rows);
}

/** Every alert about a patient, oldest first. */
export async function alertsAbout(knex: Knex, patient: string): Promise<Alert[]> {
  return withRecipients(knex, (await knex('monitoring_alerts').where({ patient }).orderBy('seq').limit(5000)) as AlertRow[]);
}

async function withRecipients(knex: Knex, rows: AlertRow[]): Promise<Alert[]> {
  if (!rows.length) return [];
  const rec = (await knex('monitoring_alert_recipients').whereIn('alert_seq', rows.map((r) => r.seq)).select('alert_seq', 'recipient')) as Array<{ alert_seq: number | string; recipient: string }>;
  const by = new Map<number, string[]>();
  for (const r of rec) by.set(Number(r.alert_seq), [...(by.get(Number(r.alert_seq)) ?? []), r.recipient]);
  return rows.map((r) => fromAlertRow(r, (by.get(Number(r.seq)) ?? []).sort()));
}
