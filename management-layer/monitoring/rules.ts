/**
 * Alert rules: (patient, indicator, condition, who is notified), set by the patient or by a provider
 * with a TREAT grant covering the indicator (checked by the caller, usage-layer/care). Each rule and
 * each change is a `monitoring` ledger entry; a deleted rule stops at the next reading.
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
  ledger_seq: number | string;
}

export function fromRuleRow(r: RuleRow): Rule {
  return {
    id: r.id,
    patient: r.patient,
    indicator: r.indicator,
    condition: r.condition,
    notify: typeof r.notify === 'string' ? (JSON.parse(r.notify) as Recipient[]) : r.notify,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    deletedAt: r.deleted_at ? new Date(r.deleted_at).toISOString() : null,
    ledgerSeq: Number(r.ledger_seq),
  };
}

export interface RuleInput {
  indicator: string;
  condition: string;
  notify: Recipient[];
}

export class RuleService {
  constructor(private readonly db: Database, private readonly ledger: Ledger) {}

  /** Checks the condition, then records the rule and its ledger entry. `actor`: `patient:…` or `provider:org`. */
  async create(patient: string, input: RuleInput, actor: string): Promise<Rule> {
    const condition: Condition = parseCondition(input.condition, input.indicator);
    if (input.notify.length === 0) throw new ValidationError('"notify" must name at least one recipient', 'notify');
    const id = randomUUID();
    return this.db.knex.transaction(async (trx) => {
      const [entry] = await this.ledger.appendWithin(trx, [{ kind: 'monitoring', actor, payload: { action: 'rule-created', ruleId: id, patient, indicator: input.indicator, condition: input.condition, notify: input.notify } }]);
      await trx('monitoring_rules').insert({ id, patient, indicator: input.indicator, condition: input.condition.trim(), notify: JSON.stringify(input.notify), created_by: actor, ledger_seq: entry!.seq });
      await trx('monitoring_rule_state').insert({ rule_id: id, state: JSON.stringify(initialState(condition)) });
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

  /** Deletes a rule of `patient` (idempotent); `mayDelete` decides for the caller. */
  async delete(patient: string, id: string, actor: string, mayDelete: (r: Rule) => boolean = () => true): Promise<Rule> {
    return this.db.knex.transaction(async (trx) => {
      const row = (await trx('monitoring_rules').where({ id, patient }).forUpdate().first()) as RuleRow | undefined;
      if (!row || !mayDelete(fromRuleRow(row))) throw new NotFoundError(`no alert rule ${JSON.stringify(id)} of this patient that you may change`);
      if (row.deleted_at) return fromRuleRow(row);
      await this.ledger.appendWithin(trx, [{ kind: 'monitoring', actor, payload: { action: 'rule-deleted', ruleId: id, patient, indicator: row.indicator } }]);
      await trx('monitoring_rules').where({ id }).update({ deleted_at: trx.fn.now() });
      return this.load(trx, id);
    });
  }

  private async load(knex: Knex, id: string): Promise<Rule> {
    return fromRuleRow((await knex('monitoring_rules').where({ id }).first()) as RuleRow);
  }
}
