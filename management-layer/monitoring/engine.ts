/**
 * The rule engine: evaluates alert rules on newly stored records at ingest (the one place where
 * plaintext exists; compute nodes never see a rule), keeping each rule's window state durably.
 *
 * Steps per stored batch (IngestService.onStored, after the batch committed):
 * 1. read the live rules of the batch's patients with their window states (one statement; none: done);
 * 2. step every reading in effective-time order;
 * 3. if no rule fires (most batches), mark the batch evaluated and save the states in ONE statement
 *    that writes only if no state was written since the read (each write bumps a state's epoch), all
 *    or nothing (saveIfCurrent: no transaction, no row locks held across round trips);
 * 4. otherwise, or if a state changed meanwhile (a rule edit), evaluate under locks: in one
 *    transaction mark the batch and lock the rules with their states (one statement), step again,
 *    save the states (one statement) and insert the alerts that fire (one ledger append and one INSERT
 *    a table for all of them, alerts.ts insertAlerts) → publish the alerts to live subscribers.
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

/** A live rule with its window state and the state's epoch, as read or locked. */
type RuleStateRow = Parameters<typeof fromRuleRow>[0] & { state: ConditionState | string; epoch: number | string };

/** A rule that has readings in the batch: its next state (from the state of `epoch`) and the readings it fires on. */
export interface SteppedRule {
  rule: Rule;
  epoch: number;
  state: ConditionState;
  hits: StoredRecord[];
}

/** The live rules of these patients with their states, not locked (step 1). */
export async function liveRulesOf(knex: Knex, patients: string[]): Promise<RuleStateRow[]> {
  return (await liveRulesWithState(knex).whereIn('r.patient', patients).select('r.*', 's.state', 's.epoch')) as RuleStateRow[];
}

/** Steps each rule over its patient's readings of its indicator in effective-time order. */
export function stepRules(rows: readonly RuleStateRow[], records: readonly StoredRecord[]): SteppedRule[] {
  const stepped: SteppedRule[] = [];
  for (const row of rows) {
    const rule = fromRuleRow(row);
    const readings = records.filter((r) => r.patient === rule.patient && r.indicator === rule.indicator);
    if (!readings.length) continue;
    const state0 = typeof row.state === 'string' ? (JSON.parse(row.state) as ConditionState) : row.state;
    stepped.push({ rule, epoch: Number(row.epoch), ...runReadings(parseCondition(rule.condition, rule.indicator), state0, readings) });
  }
  return stepped;
}

function runReadings(condition: Condition, state0: ConditionState, readings: readonly StoredRecord[]): { state: ConditionState; hits: StoredRecord[] } {
  const ordered = [...readings].sort((a, b) => a.effectiveStart.localeCompare(b.effectiveStart) || a.id.localeCompare(b.id));
  let state = state0;
  const hits: StoredRecord[] = [];
  for (const reading of ordered) {
    const r = step(condition, state, { value: reading.value, at: Date.parse(reading.effectiveStart) });
    state = r.state;
    if (r.fire) hits.push(reading);
  }
  return { state, hits };
}

/** The rules' new window states, in one statement (the rows are locked by the caller); each write bumps the epoch. */
async function saveStates(trx: Knex.Transaction, states: ReadonlyArray<{ rule_id: string; state: ConditionState }>): Promise<void> {
  if (!states.length) return;
  await trx.raw(
    `UPDATE monitoring_rule_state s SET state = u.state, epoch = s.epoch + 1
       FROM jsonb_to_recordset(?::jsonb) AS u(rule_id text, state jsonb) WHERE s.rule_id = u.rule_id`,
    [JSON.stringify(states)],
  );
}

/** PostgreSQL's serialization_failure and deadlock_detected: another writer came first. */
const LOST_RACE = new Set(['40001', '40P01']);

/**
 * Step 3: marks the batch and saves the states stepped from an unlocked read in one statement, only
 * if every state is still at the epoch it was read at (a rule edit that reset a state, or another
 * evaluation, bumped it); hgd_monitoring_current fails the statement otherwise, so nothing is
 * written. A batch marked already writes nothing and counts as done. Returns false when the states
 * had moved on (the caller evaluates under locks).
 */
export async function saveIfCurrent(knex: Knex, batchId: string, stepped: readonly SteppedRule[]): Promise<boolean> {
  const input = JSON.stringify(stepped.map((s) => ({ rule_id: s.rule.id, epoch: s.epoch, state: s.state })));
  try {
    await knex.raw(
      `WITH input AS (SELECT * FROM jsonb_to_recordset(?::jsonb) AS u(rule_id text, epoch bigint, state jsonb)),
            marked AS (INSERT INTO monitoring_batches (batch_id) VALUES (?) ON CONFLICT DO NOTHING RETURNING batch_id),
            saved AS (UPDATE monitoring_rule_state s SET state = i.state, epoch = s.epoch + 1 FROM input i
                       WHERE s.rule_id = i.rule_id AND s.epoch = i.epoch AND EXISTS (SELECT 1 FROM marked) RETURNING s.rule_id)
       SELECT hgd_monitoring_current((SELECT count(*) FROM saved), CASE WHEN EXISTS (SELECT 1 FROM marked) THEN ?::bigint ELSE 0 END)`,
      [input, batchId, stepped.length],
    );
    return true;
  } catch (err) {
    if (LOST_RACE.has(String((err as { code?: unknown }).code))) return false;
    throw err;
  }
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
    .select('r.*', 's.state', 's.epoch');
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
    // Most batches concern no patient with a rule: one read and no transaction for them (catchUp finds no rule either).
    const live = await liveRulesOf(this.db.knex, patients);
    if (!live.length) return;
    // Most of the others fire nothing: their states go in with one statement if nobody wrote them since the read.
    const stepped = stepRules(live, records);
    if (!stepped.some((s) => s.hits.length) && (await saveIfCurrent(this.db.knex, batchId, stepped))) return;
    this.published(await this.evaluateLocked(batchId, patients, records));
  }

  /** Step 4: marks the batch and locks the rules and states, steps again, saves the states and the alerts. */
  private evaluateLocked(batchId: string, patients: string[], records: StoredRecord[]): Promise<Alert[]> {
    return this.db.knex.transaction(async (trx) => {
      const stepped = stepRules((await markAndLock(trx, batchId, patients)) as RuleStateRow[], records);
      const fired: NewAlert[] = [];
      for (const { rule, hits } of stepped) {
        for (const reading of hits) fired.push({ alert: await this.ruleAlert(trx, rule, reading), ledgerPayload: { recordId: reading.id, effectiveStart: reading.effectiveStart, condition: rule.condition } });
      }
      await saveStates(trx, stepped.map((s) => ({ rule_id: s.rule.id, state: s.state })));
      return insertAlerts(trx, this.ledger, this.sealer, fired);
    });
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
