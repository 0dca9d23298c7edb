/**
 * The rule engine: evaluates alert rules on newly stored records at ingest (the one place where
 * plaintext exists; compute nodes never see a rule), keeping each rule's window state durably.
 *
 * Steps per stored batch (IngestService.onStored, after the batch committed): pick the records of
 * patients and indicators with active rules → in one transaction, mark the batch evaluated and lock
 * the rules with their states (one statement), step every reading in effective-time order, save the
 * states (one statement) and insert the alerts that fire (one ledger append and one INSERT a table
 * for all of them, alerts.ts insertAlerts) → publish the alerts to live subscribers.
 * Batches are evaluated one at a time. A batch marked evaluated is never evaluated again, and alert
 * ids derive from (rule, record), so a restart neither repeats an alert nor, with catchUp(), loses one.
 */
import type { Knex } from 'knex';
import type { Database } from '../../storage-layer/db';
import type { Ledger } from '../../storage-layer/ledger';
import type { IcsRecord } from '../ics-record';
import { alertId, insertAlert, insertAlerts, type Alert, type NewAlert, type Recipient } from './alerts';
import { parseCondition, step, type Condition, type ConditionState } from './conditions';
import type { MonitoringSealer } from './at-rest';
import type { AlertHub } from './hub';
import { fromRuleRow, liveRulesWithState, type Rule } from './rules';

type StoredRecord = IcsRecord & { id: string };

/** Reads records again after a restart (the ingest service). */
export interface MonitorRecordReader {
  patientRecords(patient: string, filter: { indicators?: string[] }): Promise<StoredRecord[]>;
}

export interface MonitorOptions {
  /**
   * Whether a recipient may still be told about this patient's indicator (e.g. its TREAT grant is
   * active); reads through `knex`, the evaluation's transaction (a one-connection pool has no other).
   */
  mayNotify?: (recipient: Recipient, patient: string, indicator: string, knex: Knex) => Promise<boolean>;
  /** Called after alerts were committed (webhook delivery kick). */
  onAlerts?: (alerts: Alert[]) => void;
  log?: (msg: string, err: unknown) => void;
}

/** The rules' new window states, in one statement (the rows are locked by the caller). */
async function saveStates(trx: Knex.Transaction, states: ReadonlyArray<{ rule_id: string; state: ConditionState }>): Promise<void> {
  if (!states.length) return;
  await trx.raw(
    `UPDATE monitoring_rule_state s SET state = u.state
       FROM jsonb_to_recordset(?::jsonb) AS u(rule_id text, state jsonb) WHERE s.rule_id = u.rule_id`,
    [JSON.stringify(states)],
  );
}

/**
 * One statement: marks the batch evaluated and returns the live rules of these patients with their
 * states, rule and state rows locked (FOR UPDATE OF both, in rule-id order); nothing when the batch was
 * marked already (an earlier or concurrent evaluation). A locked row is read as committed after any
 * wait, so an edit in flight finishes first and is seen whole; RuleService.update locks the same rows
 * the same way.
 */
function markAndLock(trx: Knex.Transaction, batchId: string, patients: string[]): Promise<unknown[]> {
  return liveRulesWithState(trx)
    .with('marked', trx.raw('INSERT INTO monitoring_batches (batch_id) VALUES (?) ON CONFLICT DO NOTHING RETURNING batch_id', [batchId]))
    .whereIn('r.patient', patients)
    .whereExists((q) => q.select(trx.raw('1')).from('marked'))
    .forUpdate('r', 's')
    .select('r.*', 's.state');
}

export class Monitor {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly hub: AlertHub,
    private readonly sealer: MonitoringSealer,
    private readonly options: MonitorOptions = {},
  ) {}

  /** The IngestService listener: evaluates one committed batch (queued behind the previous ones). */
  onStored = (batch: { batchId: string; records: StoredRecord[] }): Promise<void> => this.enqueue(() => this.evaluate(batch.batchId, batch.records));

  /** Evaluates batches that committed but were never evaluated (a crash between the two). */
  async catchUp(records: MonitorRecordReader): Promise<number> {
    const pending = (await this.db.knex.raw(
      `SELECT b.id FROM ingest_batches b
        WHERE b.accepted > 0 AND NOT EXISTS (SELECT 1 FROM monitoring_batches m WHERE m.batch_id = b.id)
          AND b.received_at >= (SELECT min(created_at) FROM monitoring_rules WHERE deleted_at IS NULL)
        ORDER BY b.received_at`,
    )).rows as Array<{ id: string }>;
    for (const { id } of pending) {
      const keys = (await this.db.knex('records').where({ batch_id: id }).distinct('patient', 'indicator')) as Array<{ patient: string; indicator: string }>;
      const ids = new Set(((await this.db.knex('records').where({ batch_id: id }).select('id')) as Array<{ id: string }>).map((r) => r.id));
      const lists = await Promise.all(keys.map((k) => records.patientRecords(k.patient, { indicators: [k.indicator] })));
      await this.enqueue(() => this.evaluate(id, lists.flat().filter((r) => ids.has(r.id))));
    }
    return pending.length;
  }

  /** Records an alert that is not a rule's (a break-the-glass read), and publishes it. */
  async raise(alert: { id: string; kind: Alert['kind']; patient: string; detail: Record<string, unknown>; recipients: Recipient[] }, ledgerPayload: Record<string, unknown>): Promise<Alert | null> {
    const inserted = await this.db.knex.transaction((trx) => insertAlert(trx, this.ledger, this.sealer, { ...alert, ruleId: null }, ledgerPayload));
    if (inserted) this.published([inserted]);
    return inserted;
  }

  /** Resolves when every batch handed in so far has been evaluated. */
  idle(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.catch((err) => this.options.log?.('monitoring: evaluation failed', err));
    return next;
  }

  private async evaluate(batchId: string, records: StoredRecord[]): Promise<void> {
    const patients = [...new Set(records.map((r) => r.patient))];
    if (!patients.length) return;
    // Most batches concern no patient with a rule: no transaction for them (catchUp finds no rule either).
    if (!(await this.db.knex('monitoring_rules').whereIn('patient', patients).whereNull('deleted_at').first('id'))) return;
    const raised = await this.db.knex.transaction(async (trx) => {
      const rows = await markAndLock(trx, batchId, patients);
      const states: Array<{ rule_id: string; state: ConditionState }> = [];
      const fired: NewAlert[] = [];
      for (const row of rows as Array<Parameters<typeof fromRuleRow>[0] & { state: ConditionState | string }>) {
        const rule = fromRuleRow(row);
        const readings = records.filter((r) => r.patient === rule.patient && r.indicator === rule.indicator);
        if (!readings.length) continue;
        const state0 = typeof row.state === 'string' ? (JSON.parse(row.state) as ConditionState) : row.state;
        const { state, fired: hits } = this.run(parseCondition(rule.condition, rule.indicator), state0, readings);
        states.push({ rule_id: rule.id, state });
        for (const reading of hits) fired.push({ alert: await this.ruleAlert(trx, rule, reading), ledgerPayload: { recordId: reading.id, effectiveStart: reading.effectiveStart, condition: rule.condition } });
      }
      await saveStates(trx, states);
      return insertAlerts(trx, this.ledger, this.sealer, fired);
    });
    this.published(raised);
  }

  private run(condition: Condition, state0: ConditionState, readings: StoredRecord[]): { state: ConditionState; fired: StoredRecord[] } {
    const ordered = [...readings].sort((a, b) => a.effectiveStart.localeCompare(b.effectiveStart) || a.id.localeCompare(b.id));
    let state = state0;
    const fired: StoredRecord[] = [];
    for (const reading of ordered) {
      const r = step(condition, state, { value: reading.value, at: Date.parse(reading.effectiveStart) });
      state = r.state;
      if (r.fire) fired.push(reading);
    }
    return { state, fired };
  }

  private async ruleAlert(trx: Knex.Transaction, rule: Rule, reading: StoredRecord): Promise<Omit<Alert, 'seq' | 'ledgerSeq' | 'raisedAt'>> {
    const recipients: Recipient[] = [];
    for (const who of rule.notify) {
      const recipient = who === 'patient' ? `patient:${rule.patient}` : who;
      if (recipient.startsWith('patient:') || !this.options.mayNotify || (await this.options.mayNotify(recipient, rule.patient, rule.indicator, trx))) recipients.push(recipient);
    }
    return {
      id: alertId('rule', rule.id, reading.id),
      kind: 'rule',
      patient: rule.patient,
      ruleId: rule.id,
      detail: { indicator: rule.indicator, condition: rule.condition, value: reading.value, unit: reading.unit, effectiveStart: reading.effectiveStart, recordId: reading.id, origin: reading.provenance.origin ?? 'provider' },
      recipients: [...new Set(recipients)].sort(),
    };
  }

  private published(alerts: Alert[]): void {
    for (const a of alerts) this.hub.publish(a);
    if (alerts.length) this.options.onAlerts?.(alerts);
  }
}
