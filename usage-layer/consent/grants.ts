/**
 * Patients' grants: (patient pseudonym, indicators, study or grantee, purpose, period). Default is no
 * access: a patient's records count in a study's query only while a grant covers that study, its
 * purpose, every queried indicator and the time the query runs. A treatment grant names a provider
 * organisation as grantee instead of a study, with purpose TREAT: that organisation may read the
 * granted indicators (usage-layer/care) while the grant is active; it never counts in a research
 * cohort (studies never take TREAT). Every grant and revocation is a `consent` ledger entry naming
 * the grant, never a health value; a revocation applies to the next read or query.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { getIndicator } from '../../management-layer/catalogue';
import type { Database } from '../../storage-layer/db';
import { NotFoundError, ValidationError } from '../../storage-layer/errors';
import type { Ledger } from '../../storage-layer/ledger';
import { checkBody } from '../body-schema';
import { iso, parseInstant, textArray } from '../sql';
import { parsePurpose, parseTreatmentPurpose, purposeCoding, TREATMENT_PURPOSE, type PurposeCoding } from './purpose';

export type GrantStatus = 'active' | 'pending' | 'expired' | 'revoked';

export interface Grant {
  id: string;
  /** The patient's pseudonym (shown only to that patient). */
  patient: string;
  /** The study of a research grant; null for a treatment grant. */
  study: string | null;
  /** The provider organisation of a treatment grant (purpose TREAT); absent for a research grant. */
  grantee?: string;
  indicators: string[];
  purpose: PurposeCoding;
  /** [start, end): end exclusive, null = open-ended. */
  period: { start: string; end: string | null };
  status: GrantStatus;
  /** 'api' or 'fhir-consent' (imported). */
  source: string;
  createdAt: string;
  revokedAt: string | null;
  ledger: { grant: number; revoke: number | null };
}

export interface GrantInput {
  /** Exactly one of study (research) and grantee (treatment). */
  study?: string;
  grantee?: string;
  indicators: string[];
  purpose: string;
  period: { start: string; end: string | null };
}

interface GrantRow {
  id: string;
  patient: string;
  study: string | null;
  grantee: string | null;
  purpose: string;
  period_start: Date;
  period_end: Date | null;
  source: string;
  created_at: Date;
  revoked_at: Date | null;
  ledger_seq: number;
  revoke_ledger_seq: number | null;
}

function grantStatus(g: { revokedAt: string | null; period: { start: string; end: string | null } }, at = new Date()): GrantStatus {
  if (g.revokedAt) return 'revoked';
  if (Date.parse(g.period.start) > at.getTime()) return 'pending';
  if (g.period.end !== null && Date.parse(g.period.end) <= at.getTime()) return 'expired';
  return 'active';
}

function fromRow(r: GrantRow, indicators: string[]): Grant {
  const g = {
    id: r.id,
    patient: r.patient,
    study: r.study,
    ...(r.grantee !== null ? { grantee: r.grantee } : {}),
    indicators: [...indicators].sort(),
    purpose: purposeCoding(r.purpose),
    period: { start: iso(r.period_start) as string, end: iso(r.period_end) },
    source: r.source,
    createdAt: iso(r.created_at) as string,
    revokedAt: iso(r.revoked_at),
    ledger: { grant: Number(r.ledger_seq), revoke: r.revoke_ledger_seq === null ? null : Number(r.revoke_ledger_seq) },
  };
  return { ...g, status: grantStatus(g) };
}

/** Checks a grant request body: {study | grantee, indicators[], purpose, period?: {start?, end?}}. */
export function parseGrantInput(raw: unknown, now = new Date()): GrantInput {
  // Shape and types: schema/api/grant.schema.json; known indicators, purpose and instants are checked here.
  const b = checkBody<{ study?: string; grantee?: string; indicators: string[]; purpose: unknown; period?: { start?: unknown; end?: unknown } }>('grant', raw);
  const indicators: string[] = [];
  b.indicators.forEach((name, k) => {
    if (!getIndicator(name)) throw new ValidationError(`indicators[${k}]: unknown indicator ${JSON.stringify(name)}`, 'indicators');
    if (!indicators.includes(name)) indicators.push(name);
  });
  const purpose = b.grantee !== undefined ? parseTreatmentPurpose(b.purpose, 'purpose') : parsePurpose(b.purpose, 'purpose');
  const period = b.period ?? {};
  const start = period.start === undefined || period.start === null ? now.toISOString() : parseInstant(period.start, 'period.start', 'start');
  const end = period.end === undefined || period.end === null ? null : parseInstant(period.end, 'period.end', 'end');
  if (end !== null && Date.parse(end) <= Date.parse(start)) throw new ValidationError('"period.end" must be after "period.start"', 'period.end');
  const whom = b.grantee !== undefined ? { grantee: b.grantee } : { study: b.study as string };
  return { ...whom, indicators: indicators.sort(), purpose, period: { start, end } };
}

export class ConsentService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
  ) {}

  /** Records a grant (validated input) for `patient`, with its ledger entry, in one transaction. */
  async create(patient: string, input: GrantInput, source: 'api' | 'fhir-consent' = 'api'): Promise<Grant> {
    const id = randomUUID();
    return this.db.knex.transaction(async (trx) => {
      if (input.grantee === undefined) await this.checkStudy(trx, input);
      else if (input.purpose !== TREATMENT_PURPOSE) throw new ValidationError(`a grant to a provider organisation must have purpose ${TREATMENT_PURPOSE}`, 'purpose');
      const whom = input.grantee === undefined ? { study: input.study } : { grantee: input.grantee };
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'consent',
        actor: `patient:${patient}`,
        payload: { action: 'grant', grantId: id, ...whom, indicators: input.indicators, purpose: input.purpose, period: input.period, source },
      }]);
      await trx('consent_grants').insert({
        id,
        patient,
        study: input.study ?? null,
        grantee: input.grantee ?? null,
        purpose: input.purpose,
        period_start: input.period.start,
        period_end: input.period.end,
        source,
        ledger_seq: entry!.seq,
      });
      await trx('consent_grant_indicators').insert(input.indicators.map((indicator) => ({ grant_id: id, indicator })));
      return this.load(trx, patient, id);
    });
  }

  async list(patient: string): Promise<Grant[]> {
    const rows = (await this.db.knex('consent_grants').where({ patient }).orderBy([{ column: 'created_at' }, { column: 'id' }])) as GrantRow[];
    const indicators = await this.indicatorsOf(this.db.knex, rows.map((r) => r.id));
    return rows.map((r) => fromRow(r, indicators.get(r.id) ?? []));
  }

  /** The patient's own grant; another patient's grant is 404 like a missing one. */
  async get(patient: string, id: string): Promise<Grant> {
    return this.load(this.db.knex, patient, id);
  }

  /** Revokes the grant from now on (idempotent: a second revocation changes nothing and writes no entry). */
  async revoke(patient: string, id: string): Promise<Grant> {
    return this.db.knex.transaction(async (trx) => {
      const row = (await trx('consent_grants').where({ id, patient }).forUpdate().first()) as GrantRow | undefined;
      if (!row) throw new NotFoundError(`no grant ${JSON.stringify(id)} of this patient`);
      if (row.revoked_at) return this.load(trx, patient, id);
      const grant = await this.load(trx, patient, id);
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'consent',
        actor: `patient:${patient}`,
        payload: { action: 'revoke', grantId: id, ...(grant.grantee ? { grantee: grant.grantee } : { study: grant.study }), indicators: grant.indicators, purpose: grant.purpose.code, period: grant.period },
      }]);
      await trx('consent_grants').where({ id }).update({ revoked_at: trx.fn.now(), revoke_ledger_seq: entry!.seq });
      return this.load(trx, patient, id);
    });
  }

  /**
   * The consented cohort at `at`: pseudonyms of patients whose unrevoked grants for this study and
   * purpose, with a period containing `at`, together cover every one of `indicators`.
   */
  async cohort(q: { study: string; purpose: string; indicators: string[]; at: Date }, knex: Knex = this.db.knex): Promise<string[]> {
    const wanted = [...new Set(q.indicators)];
    const at = q.at.toISOString();
    const res = await knex.raw(
      `SELECT g.patient
         FROM consent_grants g
         JOIN consent_grant_indicators i ON i.grant_id = g.id
        WHERE g.study = ? AND g.purpose = ? AND g.revoked_at IS NULL
          AND g.period_start <= ?::timestamptz AND (g.period_end IS NULL OR g.period_end > ?::timestamptz)
          AND i.indicator = ANY(?::text[])
        GROUP BY g.patient
       HAVING count(DISTINCT i.indicator) = ?
        ORDER BY g.patient`,
      [q.study, q.purpose, at, at, textArray(wanted), wanted.length],
    );
    return ((res.rows ?? []) as Array<{ patient: string }>).map((r) => r.patient);
  }

  /**
   * The treatment grants (purpose TREAT) of `patient` to organisation `org` that are active at `at`:
   * unrevoked, with a period containing `at`. Read at every access, so a revocation stops the next read.
   */
  async activeTreatmentGrants(patient: string, org: string, at: Date, knex: Knex = this.db.knex): Promise<Grant[]> {
    const instant = at.toISOString();
    const rows = (await knex('consent_grants')
      .where({ patient, grantee: org, purpose: TREATMENT_PURPOSE })
      .whereNull('revoked_at')
      .andWhere('period_start', '<=', instant)
      .andWhere((q) => q.whereNull('period_end').orWhere('period_end', '>', instant))
      .orderBy([{ column: 'created_at' }, { column: 'id' }])) as GrantRow[];
    const indicators = await this.indicatorsOf(knex, rows.map((r) => r.id));
    return rows.map((r) => fromRow(r, indicators.get(r.id) ?? []));
  }

  private async checkStudy(trx: Knex.Transaction, input: GrantInput): Promise<void> {
    const study = (await trx('studies').where({ id: input.study }).first('id', 'purpose')) as { id: string; purpose: string } | undefined;
    if (!study) throw new ValidationError(`unknown study ${JSON.stringify(input.study)}`, 'study');
    if (study.purpose !== input.purpose) {
      throw new ValidationError(`study "${study.id}" is registered for purpose ${study.purpose}; a grant for ${input.purpose} would never apply to it`, 'purpose');
    }
  }

  private async load(knex: Knex, patient: string, id: string): Promise<Grant> {
    const row = (await knex('consent_grants').where({ id, patient }).first()) as GrantRow | undefined;
    if (!row) throw new NotFoundError(`no grant ${JSON.stringify(id)} of this patient`);
    return fromRow(row, (await this.indicatorsOf(knex, [id])).get(id) ?? []);
  }

  private async indicatorsOf(knex: Knex, ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = (await knex('consent_grant_indicators').whereIn('grant_id', ids.slice(i, i + 1000)).select('grant_id', 'indicator')) as Array<{ grant_id: string; indicator: string }>;
      for (const r of rows) out.set(r.grant_id, [...(out.get(r.grant_id) ?? []), r.indicator]);
    }
    return out;
  }
}
