/**
 * Every patient's own privacy budget, across all studies and researchers: an individual privacy filter
 * (Feldman & Zrnic 2021). Before the compute nodes run, the gateway charges the query's ε to every
 * patient who could contribute (consenting, with records in the window); a patient whose spending would
 * pass the budget is left out of this and later queries of the period, decided from metadata only
 * (what the patient has spent), never from their values. The budget renews every `periodDays` days
 * (null: a lifetime budget). Study budgets stay as caps on top (query-service.ts).
 */
import type { Knex } from 'knex';
import { num, textArray } from '../sql';

export interface PatientBudgetOptions {
  /** ε each patient may spend per period. */
  epsilon: number;
  /** Length of a budget period in days; null = one budget for the patient's lifetime. */
  periodDays: number | null;
}

export interface PatientSpend {
  spent: number;
  budget: number;
  /** First day of the current period (UTC), or null for a lifetime budget. */
  periodStart: string | null;
}

const DAY = 86_400_000;
const LIFETIME = '1970-01-01';

export class PatientBudget {
  constructor(private readonly o: PatientBudgetOptions) {}

  /** The period a moment falls in, as its first day. */
  periodOf(at: Date): string {
    if (this.o.periodDays === null) return LIFETIME;
    const len = this.o.periodDays * DAY;
    return new Date(Math.floor(at.getTime() / len) * len).toISOString().slice(0, 10);
  }

  /**
   * Charges ε to each patient whose spending stays within the budget; returns those admitted, in a
   * deterministic order. Runs in the caller's transaction (atomic with the query's bookkeeping).
   */
  async admit(trx: Knex.Transaction, patients: readonly string[], epsilon: number, period: string): Promise<string[]> {
    if (patients.length === 0) return [];
    const eps = epsilon.toFixed(6);
    await trx.raw(
      `INSERT INTO patient_privacy_spend (patient, period_start) SELECT p, ?::date FROM unnest(?::text[]) AS p ON CONFLICT DO NOTHING`,
      [period, textArray(patients)],
    );
    const res = await trx.raw(
      `UPDATE patient_privacy_spend SET spent = spent + ?::numeric
       WHERE period_start = ?::date AND patient = ANY(?::text[]) AND spent + ?::numeric <= ?::numeric
       RETURNING patient`,
      [eps, period, textArray(patients), eps, this.o.epsilon.toFixed(6)],
    );
    return ((res.rows ?? []) as Array<{ patient: string }>).map((r) => r.patient).sort();
  }

  /** Gives ε back to patients of a query that released nothing. */
  async refund(trx: Knex.Transaction, patients: readonly string[], epsilon: number, period: string): Promise<void> {
    if (patients.length === 0) return;
    await trx.raw(
      'UPDATE patient_privacy_spend SET spent = GREATEST(0, spent - ?::numeric) WHERE period_start = ?::date AND patient = ANY(?::text[])',
      [epsilon.toFixed(6), period, textArray(patients)],
    );
  }

  async spendOf(db: Knex, patient: string, at = new Date()): Promise<PatientSpend> {
    const period = this.periodOf(at);
    const row = (await db('patient_privacy_spend').where({ patient, period_start: period }).first('spent')) as { spent: string } | undefined;
    return { spent: row ? num(row.spent) : 0, budget: this.o.epsilon, periodStart: this.o.periodDays === null ? null : period };
  }
}
