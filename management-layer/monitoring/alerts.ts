/**
 * Alerts: each one is a `monitoring` ledger entry (naming rule, patient, record and time, never the
 * value), a row with its recipients and its detail sealed at rest (at-rest.ts), and one pending delivery per registered webhook of a recipient,
 * all written in the caller's transaction, a batch of alerts in a fixed number of statements. The alert id is derived from what raised it (rule and
 * reading, or the care read), so evaluating the same reading twice cannot raise a second alert.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Ledger } from '../../storage-layer/ledger';
import type { MonitoringSealer } from './at-rest';

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
  /** Null since monitoring-003: the detail is in detail_sealed. */
  detail: Record<string, unknown> | string | null;
  detail_sealed: Uint8Array | null;
  ledger_seq: number | string;
  raised_at: Date;
}

export function alertId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/** An alert row with its detail opened (sealed at rest, at-rest.ts). */
export function fromAlertRow(r: AlertRow, recipients: Recipient[], sealer: MonitoringSealer): Alert {
  return {
    seq: Number(r.seq),
    id: r.id,
    kind: r.kind,
    patient: r.patient,
    ruleId: r.rule_id,
    detail: r.detail_sealed ? sealer.openDetail(r.id, r.detail_sealed) : typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : (r.detail ?? {}),
    recipients,
    ledgerSeq: Number(r.ledger_seq),
    raisedAt: new Date(r.raised_at).toISOString(),
  };
}

/** An alert to raise, and what its ledger entry adds to the common fields. */
export interface NewAlert {
  alert: Omit<Alert, 'seq' | 'ledgerSeq' | 'raisedAt'>;
  ledgerPayload: Record<string, unknown>;
}

/** Inserts an alert (nothing when its id exists) with its ledger entry, recipients and deliveries. */
export async function insertAlert(trx: Knex.Transaction, ledger: Ledger, sealer: MonitoringSealer, a: NewAlert['alert'], ledgerPayload: Record<string, unknown>): Promise<Alert | null> {
  return (await insertAlerts(trx, ledger, sealer, [{ alert: a, ledgerPayload }]))[0] ?? null;
}

/**
 * Inserts alerts whose ids are new, in order, with a fixed number of statements whatever their number:
 * one ledger append for all their entries, then one INSERT each for the alerts, the recipients and the
 * webhook deliveries. Returns the inserted alerts (an id already stored, or repeated, is skipped).
 */
export async function insertAlerts(trx: Knex.Transaction, ledger: Ledger, sealer: MonitoringSealer, items: readonly NewAlert[]): Promise<Alert[]> {
  const out: Alert[] = [];
  for (let i = 0; i < items.length; i += ALERTS_PER_STATEMENT) out.push(...(await insertChunk(trx, ledger, sealer, items.slice(i, i + ALERTS_PER_STATEMENT))));
  return out;
}

/** Alerts a statement: keeps the recipients' INSERT (up to 10 an alert, 2 bindings each) under PostgreSQL's 65,535 bindings. */
const ALERTS_PER_STATEMENT = 1000;

async function insertChunk(trx: Knex.Transaction, ledger: Ledger, sealer: MonitoringSealer, items: readonly NewAlert[]): Promise<Alert[]> {
  const fresh = await newAlerts(trx, items);
  if (!fresh.length) return [];
  const entries = await ledger.appendWithin(trx, fresh.map(({ alert: a, ledgerPayload }) => ({ kind: 'monitoring' as const, actor: 'gateway:monitor', payload: { action: 'alert', alertId: a.id, kind: a.kind, patient: a.patient, ruleId: a.ruleId, recipients: a.recipients, ...ledgerPayload } })));
  const rows = (await trx('monitoring_alerts')
    .insert(fresh.map(({ alert: a }, i) => ({ id: a.id, kind: a.kind, patient: a.patient, rule_id: a.ruleId, detail: null, detail_sealed: sealer.sealDetail(a.id, a.detail), ledger_seq: entries[i]!.seq })))
    .returning('*')) as AlertRow[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const inserted = fresh.map(({ alert: a }) => fromAlertRow(byId.get(a.id)!, a.recipients, sealer));
  const recipients = inserted.flatMap((a) => a.recipients.map((recipient) => ({ alert_seq: a.seq, recipient })));
  if (recipients.length) await trx('monitoring_alert_recipients').insert(recipients);
  await queueDeliveries(trx, inserted);
  return inserted;
}

/** The items whose alert ids are neither stored nor earlier in the list. */
async function newAlerts(trx: Knex.Transaction, items: readonly NewAlert[]): Promise<NewAlert[]> {
  if (!items.length) return [];
  const stored = new Set(((await trx('monitoring_alerts').whereIn('id', items.map((i) => i.alert.id)).select('id')) as Array<{ id: string }>).map((r) => r.id));
  return items.filter((i) => !stored.has(i.alert.id) && (stored.add(i.alert.id), true));
}

/** One pending delivery per alert and live webhook of each of its recipients. */
async function queueDeliveries(trx: Knex.Transaction, alerts: readonly Alert[]): Promise<void> {
  const owners = [...new Set(alerts.flatMap((a) => a.recipients))];
  if (!owners.length) return;
  const hooks = (await trx('monitoring_webhooks').whereIn('owner', owners).whereNull('deleted_at').select('id', 'owner')) as Array<{ id: string; owner: string }>;
  const deliveries = alerts.flatMap((a) => hooks.filter((h) => a.recipients.includes(h.owner)).map((h) => ({ webhook_id: h.id, alert_seq: a.seq })));
  if (deliveries.length) await trx('monitoring_deliveries').insert(deliveries);
}

/** Alerts for a recipient after `afterSeq` (SSE resume), oldest first. */
export async function alertsFor(knex: Knex, sealer: MonitoringSealer, recipient: Recipient, afterSeq: number, limit = 1000): Promise<Alert[]> {
  const rows = (await knex('monitoring_alerts as a')
    .join('monitoring_alert_recipients as r', 'r.alert_seq', 'a.seq')
    .where('r.recipient', recipient)
    .andWhere('a.seq', '>', afterSeq)
    .orderBy('a.seq')
    .limit(limit)
    .select('a.*')) as AlertRow[];
  return withRecipients(knex, sealer, rows);
}

/** Every alert about a patient, oldest first. */
export async function alertsAbout(knex: Knex, sealer: MonitoringSealer, patient: string): Promise<Alert[]> {
  return withRecipients(knex, sealer, (await knex('monitoring_alerts').where({ patient }).orderBy('seq').limit(5000)) as AlertRow[]);
}

async function withRecipients(knex: Knex, sealer: MonitoringSealer, rows: AlertRow[]): Promise<Alert[]> {
  if (!rows.length) return [];
  const rec = (await knex('monitoring_alert_recipients').whereIn('alert_seq', rows.map((r) => r.seq)).select('alert_seq', 'recipient')) as Array<{ alert_seq: number | string; recipient: string }>;
  const by = new Map<number, string[]>();
  for (const r of rec) by.set(Number(r.alert_seq), [...(by.get(Number(r.alert_seq)) ?? []), r.recipient]);
  return rows.map((r) => fromAlertRow(r, (by.get(Number(r.seq)) ?? []).sort(), sealer));
}
