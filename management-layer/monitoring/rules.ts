/**
 * Alert rules: (patient, indicator, condition, who is notified), set by the patient or by a provider
 * with a TREAT grant covering the indicator (checked by the caller, usage-layer/care). Each rule and
 * each change is a `monitoring` ledger entry and a row of monitoring_rule_versions (the rule's
 * history, shown to the patient); a deleted rule stops at the next reading.
 *
 * Editing in place (update): the condition and the recipients may change, the indicator may not (a
 * rule on another indicator is another rule). A changed condition RESETS the rule's window state: a
 * run or a count gathered under the old threshold or window says nothing about the new one, and
 * carrying it could fire at once on readings the new condition never saw. Changing only the
 * recipients keeps the state (the same condition, the same window). Alerts already raised stay.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../../storage-layer/db';
import { NotFoundError, ValidationError } from '../../storage-layer/errors';
import type { Ledger } from '../../storage-layer/ledger';
import type { Recipient } from './alerts';
import { initialState, parseCondition, type Condition } from './conditions';

export interface Rule {
  id: string;
  patient: string;
  indicator: string;
  condition: string;
  notify: Recipient[];
  createdBy: string;
  createdAt: string;
  deletedAt: string | null;
  /** 1 at creation, +1 for every change and the deletion. */
  version: number;
  updatedAt: string | null;
  ledgerSeq: number;
}

interface RuleRow {
  id: string;
  patient: string;
  indicator: string;
  condition: string;
  notify: Recipient[] | string;
  created_by: string;
  created_at: Date;
  deleted_at: Date | null;
  version?: number | string;
  updated_at?: Date | null;
  ledger_seq: number | string;
}

/** One version of a rule, as its history lists it. */
export interface RuleVersion {
  version: number;
  action: 'created' | 'changed' | 'deleted';
  condition: string;
  notify: Recipient[];
  /** Whether this change reset the rule's window state. */
  stateReset: boolean;
  changedBy: string;
  changedAt: string;
  ledgerSeq: number | null;
}

const parseJson = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export function fromRuleRow(r: RuleRow): Rule {
  return {
    id: r.id,
    patient: r.patient,
    indicator: r.indicator,
    condition: r.condition,
    notify: parseJson(r.notify),
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    deletedAt: r.deleted_at ? new Date(r.deleted_at).toISOString() : null,
    version: Number(r.version ?? 1),
    updatedAt: r.updated_at ? new Date(r.updated_at).toISOString() : null,
    ledgerSeq: Number(r.ledger_seq),
  };
}

/** Live rules joined with their window state (`r`, `s`), in rule-id order: the one way rules are locked. */
export function liveRulesWithState(knex: Knex): Knex.QueryBuilder {
  return knex('monitoring_rules as r').join('monitoring_rule_state as s', 's.rule_id', 'r.id').whereNull('r.deleted_at').orderBy('r.id');
}

export interface RuleInput {
  indicator: string;
  condition: string;
  notify: Recipient[];
}

/** What an edit may change; at least one of them. */
export interface RuleChange {
  condition?: string;
  notify?: Recipient[];
}

function checkNotify(notify: Recipient[]): void {
  if (notify.length === 0) throw new ValidationError('"notify" must name at least one recipient', 'notify');
}

/** The condition as stored: trimmed, single spaces. */
const tidy = (condition: string) => condition.trim().split(/\s+/).join(' ');

const sameCondition = (a: Condition, b: Condition) => JSON.stringify(a) === JSON.stringify(b);
const sameRecipients = (a: Recipient[], b: Recipient[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

export class RuleService {
  constructor(private readonly db: Database, private readonly ledger: Ledger) {}

  /** Checks the condition, then records the rule and its ledger entry. `actor`: `patient:…` or `provider:org`. */
  async create(patient: string, input: RuleInput, actor: string): Promise<Rule> {
    const condition: Condition = parseCondition(input.condition, input.indicator);
    checkNotify(input.notify);
    const id = randomUUID();
    return this.db.knex.transaction(async (trx) => {
      const [entry] = await this.ledger.appendWithin(trx, [{ kind: 'monitoring', actor, payload: { action: 'rule-created', ruleId: id, patient, indicator: input.indicator, condition: tidy(input.condition), notify: input.notify } }]);
      await trx('monitoring_rules').insert({ id, patient, indicator: input.indicator, condition: tidy(input.condition), notify: JSON.stringify(input.notify), created_by: actor, ledger_seq: entry!.seq });
      await trx('monitoring_rule_state').insert({ rule_id: id, state: JSON.stringify(initialState(condition)) });
      await this.recordVersion(trx, id, { version: 1, action: 'created', condition: tidy(input.condition), notify: input.notify, stateReset: false, changedBy: actor, ledgerSeq: entry!.seq });
      return this.load(trx, id);
    });
  }

  async list(patient: string): Promise<Rule[]> {
    return ((await this.db.knex('monitoring_rules').where({ patient }).whereNull('deleted_at').orderBy('created_at')) as RuleRow[]).map(fromRuleRow);
  }

  async get(id: string): Promise<Rule | null> {
    const row = (await this.db.knex('monitoring_rules').where({ id }).first()) as RuleRow | undefined;
    return row ? fromRuleRow(row) : null;
  }

  /**
   * Edits a live rule of `patient` in place (see the header: a new condition resets the window state).
   * A change that changes nothing records nothing. `mayChange` decides for the caller.
   */
  async update(patient: string, id: string, change: RuleChange, actor: string, mayChange: (r: Rule) => boolean = () => true): Promise<Rule> {
    if (change.notify) checkNotify(change.notify);
    return this.db.knex.transaction(async (trx) => {
      const rule = await this.lockLive(trx, patient, id, mayChange);
      const next = { condition: change.condition === undefined ? rule.condition : tidy(change.condition), notify: change.notify ?? rule.notify };
      const parsed = parseCondition(next.condition, rule.indicator);
      const reset = !sameCondition(parsed, parseCondition(rule.condition, rule.indicator));
      if (!reset && next.condition === rule.condition && sameRecipients(next.notify, rule.notify)) return rule;
      const version = rule.version + 1;
      const [entry] = await this.ledger.appendWithin(trx, [{ kind: 'monitoring', actor, payload: { action: 'rule-changed', ruleId: id, patient, indicator: rule.indicator, version, condition: next.condition, notify: next.notify, stateReset: reset } }]);
      await trx('monitoring_rules').where({ id }).update({ condition: next.condition, notify: JSON.stringify(next.notify), version, updated_at: trx.fn.now() });
      if (reset) await trx('monitoring_rule_state').where({ rule_id: id }).update({ state: JSON.stringify(initialState(parsed)), epoch: trx.raw('epoch + 1') });
      await this.recordVersion(trx, id, { version, action: 'changed', ...next, stateReset: reset, changedBy: actor, ledgerSeq: entry!.seq });
      return this.load(trx, id);
    });
  }

  /** Deletes a rule of `patient` (idempotent); `mayDelete` decides for the caller. */
  async delete(patient: string, id: string, actor: string, mayDelete: (r: Rule) => boolean = () => true): Promise<Rule> {
    return this.db.knex.transaction(async (trx) => {
      const row = (await trx('monitoring_rules').where({ id, patient }).forUpdate().first()) as RuleRow | undefined;
      if (!row || !mayDelete(fromRuleRow(row))) throw notYours(id);
      const rule = fromRuleRow(row);
      if (rule.deletedAt) return rule;
      const [entry] = await this.ledger.appendWithin(trx, [{ kind: 'monitoring', actor, payload: { action: 'rule-deleted', ruleId: id, patient, indicator: rule.indicator } }]);
      await trx('monitoring_rules').where({ id }).update({ deleted_at: trx.fn.now(), version: rule.version + 1 });
      await this.recordVersion(trx, id, { version: rule.version + 1, action: 'deleted', condition: rule.condition, notify: rule.notify, stateReset: false, changedBy: actor, ledgerSeq: entry!.seq });
      return this.load(trx, id);
    });
  }

  /** Every version of a rule of `patient` (deleted ones included), oldest first. */
  async history(patient: string, id: string): Promise<RuleVersion[]> {
    if (!(await this.db.knex('monitoring_rules').where({ id, patient }).first('id'))) throw notYours(id);
    const rows = (await this.db.knex('monitoring_rule_versions').where({ rule_id: id }).orderBy('version')) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      version: Number(r.version),
      action: r.action as RuleVersion['action'],
      condition: r.condition as string,
      notify: parseJson(r.notify as Recipient[] | string),
      stateReset: Boolean(r.state_reset),
      changedBy: r.changed_by as string,
      changedAt: new Date(r.changed_at as Date).toISOString(),
      ledgerSeq: r.ledger_seq === null ? null : Number(r.ledger_seq),
    }));
  }

  /** The live rule, its row and window state locked as an evaluation locks them (an evaluation in flight finishes first). */
  private async lockLive(trx: Knex.Transaction, patient: string, id: string, mayChange: (r: Rule) => boolean): Promise<Rule> {
    const row = (await liveRulesWithState(trx).where({ 'r.id': id, 'r.patient': patient }).forUpdate('r', 's').first('r.*')) as RuleRow | undefined;
    if (!row || !mayChange(fromRuleRow(row))) throw notYours(id);
    return fromRuleRow(row);
  }

  private async recordVersion(trx: Knex.Transaction, id: string, v: Omit<RuleVersion, 'changedAt'>): Promise<void> {
    await trx('monitoring_rule_versions').insert({ rule_id: id, version: v.version, action: v.action, condition: v.condition, notify: JSON.stringify(v.notify), state_reset: v.stateReset, changed_by: v.changedBy, ledger_seq: v.ledgerSeq });
  }

  private async load(knex: Knex, id: string): Promise<Rule> {
    return fromRuleRow((await knex('monitoring_rules').where({ id }).first()) as RuleRow);
  }
}

function notYours(id: string): NotFoundError {
  return new NotFoundError(`no alert rule ${JSON.stringify(id)} of this patient that you may change`);
}
