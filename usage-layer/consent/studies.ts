/**
 * Studies and their researchers. An admin registers a study (purpose, minimum cohort size, privacy
 * budget) and names its researchers; membership in this table is the source of truth for what a
 * researcher may query (a token's `studies` claim can narrow it, never widen it).
 */
import type { Database } from '../../storage-layer/db';
import { NotFoundError, ValidationError } from '../../storage-layer/errors';
import { ForbiddenError, type Identity } from '../../storage-layer/http-identity';
import type { Ledger } from '../../storage-layer/ledger';
import { ConflictError } from '../errors';
import { checkBody } from '../body-schema';
import { num, parseEpsilon } from '../sql';
import { parsePurpose, purposeCoding, type PurposeCoding } from './purpose';

export interface StudyDefaults {
  minCohort: number;
  epsilonBudget: number;
  /** Contribution bound L of a new study. */
  maxContributions: number;
}

export interface Study {
  id: string;
  title: string;
  purpose: PurposeCoding;
  minCohort: number;
  /** Contribution bound L: at most this many records (pairs) of one patient enter a query. */
  maxContributions: number;
  epsilonBudget: number;
  epsilonSpent: number;
  epsilonRemaining: number;
  createdAt: string;
  ledgerSeq: number;
}

interface StudyRow {
  id: string;
  title: string;
  purpose: string;
  min_cohort: number;
  max_contributions: number;
  epsilon_budget: string | number;
  epsilon_spent: string | number;
  created_at: Date;
  ledger_seq: number;
}

function studyFromRow(r: StudyRow): Study {
  const budget = num(r.epsilon_budget);
  const spent = num(r.epsilon_spent);
  return {
    id: r.id,
    title: r.title,
    purpose: purposeCoding(r.purpose),
    minCohort: Number(r.min_cohort),
    maxContributions: Number(r.max_contributions),
    epsilonBudget: budget,
    epsilonSpent: spent,
    epsilonRemaining: Math.round((budget - spent) * 1e6) / 1e6,
    createdAt: new Date(r.created_at).toISOString(),
    ledgerSeq: Number(r.ledger_seq),
  };
}

export class StudyService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly defaults: StudyDefaults,
  ) {}

  async register(admin: Identity, raw: unknown): Promise<Study> {
    // Shape, id pattern, title length and minCohort range: schema/api/study.schema.json.
    const b = checkBody<{ id: string; title: string; purpose: unknown; minCohort?: number; epsilonBudget?: number; maxContributions?: number }>('study', raw);
    if (b.title.trim() === '') throw new ValidationError('"title" must not be blank', 'title');
    const purpose = parsePurpose(b.purpose, 'purpose');
    const minCohort = b.minCohort ?? this.defaults.minCohort;
    const maxContributions = b.maxContributions ?? this.defaults.maxContributions;
    const epsilonBudget = b.epsilonBudget === undefined ? this.defaults.epsilonBudget : parseEpsilon(b.epsilonBudget, 'epsilonBudget', { min: 0.000001, max: 1_000_000 });
    const id = b.id;
    const title = b.title.trim();
    return this.db.knex.transaction(async (trx) => {
      if (await trx('studies').where({ id }).first('id')) throw new ConflictError(`study "${id}" already exists`, 'id');
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'admin',
        actor: `admin:${admin.sub}`,
        payload: { action: 'study-registered', study: id, title, purpose, minCohort, maxContributions, epsilonBudget },
      }]);
      const [row] = await trx('studies')
        .insert({ id, title, purpose, min_cohort: minCohort, max_contributions: maxContributions, epsilon_budget: epsilonBudget.toFixed(6), created_by: admin.sub, ledger_seq: entry!.seq })
        .returning('*');
      return studyFromRow(row as StudyRow);
    });
  }

  async addResearcher(admin: Identity, studyId: string, raw: unknown): Promise<{ study: string; researcher: string; ledgerSeq: number }> {
    const b = checkBody<{ researcher: string }>('study-researcher', raw);
    const researcher = b.researcher;
    return this.db.knex.transaction(async (trx) => {
      if (!(await trx('studies').where({ id: studyId }).first('id'))) throw new NotFoundError(`no study "${studyId}"`);
      if (await trx('study_researchers').where({ study: studyId, researcher }).first('researcher')) {
        throw new ConflictError(`researcher "${researcher}" is already a member of study "${studyId}"`, 'researcher');
      }
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'admin',
        actor: `admin:${admin.sub}`,
        payload: { action: 'researcher-added', study: studyId, researcher },
      }]);
      await trx('study_researchers').insert({ study: studyId, researcher, added_by: admin.sub, ledger_seq: entry!.seq });
      return { study: studyId, researcher, ledgerSeq: entry!.seq };
    });
  }

  async removeResearcher(admin: Identity, studyId: string, researcher: string): Promise<{ study: string; researcher: string; ledgerSeq: number }> {
    return this.db.knex.transaction(async (trx) => {
      const deleted = await trx('study_researchers').where({ study: studyId, researcher }).del();
      if (!deleted) throw new NotFoundError(`researcher "${researcher}" is not a member of study "${studyId}"`);
      const [entry] = await this.ledger.appendWithin(trx, [{
        kind: 'admin',
        actor: `admin:${admin.sub}`,
        payload: { action: 'researcher-removed', study: studyId, researcher },
      }]);
      return { study: studyId, researcher, ledgerSeq: entry!.seq };
    });
  }

  async get(id: string): Promise<Study | undefined> {
    const row = (await this.db.knex('studies').where({ id }).first()) as StudyRow | undefined;
    return row ? studyFromRow(row) : undefined;
  }

  async list(): Promise<Study[]> {
    const rows = (await this.db.knex('studies').orderBy('id')) as StudyRow[];
    return rows.map(studyFromRow);
  }

  async researchers(studyId: string): Promise<string[]> {
    return (await this.db.knex('study_researchers').where({ study: studyId }).orderBy('researcher').select('researcher')).map((r: { researcher: string }) => r.researcher);
  }

  async isMember(studyId: string, researcher: string): Promise<boolean> {
    return Boolean(await this.db.knex('study_researchers').where({ study: studyId, researcher }).first('researcher'));
  }

  /**
   * The study, when the researcher belongs to it: by the database, and by the token's `studies`
   * claim when the token carries one. Otherwise 403 (also for a study that does not exist, so the
   * answer does not tell which studies exist).
   */
  async requireMember(identity: Identity, studyId: unknown): Promise<Study> {
    if (typeof studyId !== 'string' || studyId === '') throw new ValidationError('"study" is required', 'study');
    const denied = () => new ForbiddenError(`researcher "${identity.sub}" is not a member of study ${JSON.stringify(studyId)} (field "study")`);
    if (identity.studies && !identity.studies.includes(studyId)) throw denied();
    if (!(await this.isMember(studyId, identity.sub))) throw denied();
    const study = await this.get(studyId);
    if (!study) throw denied();
    return study;
  }
}
