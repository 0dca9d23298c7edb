/**
 * Research queries: checked and charged to the study's privacy budget when submitted, then run
 * in-process over the compute nodes (usage-layer/coordinator) for the consented cohort only, with
 * disclosure control (queries/disclosure.ts). Every query, whatever its outcome, is exactly one `query`
 * ledger entry; who contributed is kept in query_contributors for the patients' access logs and never
 * leaves through a researcher-facing answer.
 *
 * A query's outcome is settled once: finishing (done, suppressed), failing and recovering are each a
 * compare-and-set on its status (`UPDATE … WHERE status = 'running'`, or queued/running for recovery),
 * and the outcome's ledger entry, the contributors and the budget refund are written in the same
 * transaction only when that update took the row. A query that another gateway already marked failed
 * therefore never releases its result, and its epsilon is returned exactly once.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { getIndicator, isDemographic, type Indicator } from '../../management-layer/catalogue';
import type { Database } from '../../storage-layer/db';
import { HgdError, NotFoundError, UnavailableError, ValidationError } from '../../storage-layer/errors';
import type { Identity } from '../../storage-layer/http-identity';
import type { Ledger } from '../../storage-layer/ledger';
import { aggregateSpec, type AggregateKind, type Centre } from '../../mpc/aggregates';
import { filterIndicators } from '../../mpc/filters';
import { MpcError } from '../../mpc/errors';
import { countHalfWidth, releaseInterval } from '../../mpc/intervals';
import type { AggregateQuery, Coordinator, HistogramResult } from '../coordinator';
import type { ConsentService } from '../consent/grants';
import { purposeCoding, type PurposeCoding } from '../consent/purpose';
import type { Study, StudyService } from '../consent/studies';
import { BudgetExhaustedError } from '../errors';
import { checkBody } from '../body-schema';
import { iso, num, parseEpsilon, parseInstant, textArray } from '../sql';
import { boundsPlan, centrePlan, correlationFloors, mainParts, noisePartScale, noiseShape, noiseStdDev, part, planPrivacy, rankTotalPart, releaseNoise, snapWindow, thresholdContributors, thresholdMargin, valueBounds, type NoisePart, type PrivacyPlan } from './disclosure';
import { pilotCentre, pilotOpened } from './pilot';
import { PatientBudget, type PatientBudgetOptions, type PatientSpend } from './patient-budget';
import { sourceClauses } from './record-source';
import { checkQueryFilter, filterWithDomains, type QueryFilter } from './query-filter';
import { autoBounds } from './auto-bounds';
import { clampOf, declaredValueBounds, parseDeclaredBounds, type AskedBounds, type BoundsOption, type DeclaredBounds } from './declared-bounds';
import { checkGroupBy, groupFilter, groupIndicator, groupsOf, runGroups, type AppliedNoise, type GroupBy, type ReleasedGroup } from './group-by';
import { latestValueOnly, parseRankOptions, perRoundNoise, rankQuery, searchInterval, type RankOptions } from './quantile-plan';

export type QueryStatus = 'queued' | 'running' | 'done' | 'failed' | 'suppressed' | 'refused';

export interface QueryServiceOptions {
  /** Epsilon of a query that names none. */
  defaultEpsilon: number;
  minEpsilon: number;
  maxEpsilon: number;
  /** Every patient's own budget across all studies (patient-budget.ts). */
  patientBudget: PatientBudgetOptions;
  /** Log sink for unexpected failures of the background runner. */
  log?: (msg: string, err: unknown) => void;
}

export interface QueryRequest {
  study: string;
  indicators: string[];
  aggregate: AggregateKind;
  from: string | null;
  to: string | null;
  epsilon: number;
  pairWindowSeconds: number | null;
  /** A lower contribution bound than the study's, or null. */
  perPatient: number | null;
  /** Whether patients' own readings count (default false: providers' records only). */
  includePatientReported: boolean;
  /** Cohort filter on the patients' latest values (query-filter.ts), or null. */
  filter: QueryFilter | null;
  /** Researcher's histogram edges and a quantile's q (quantile-plan.ts). */
  rank: RankOptions;
  /** Group-by over a demographic (group-by.ts), or null. */
  groupBy: GroupBy | null;
  /** Bounds the researcher declared per indicator, or "auto" (auto-bounds.ts); the values are clamped into them (declared-bounds.ts), or null. */
  bounds: BoundsOption | null;
}

/** What a researcher sees of a released histogram: noisy counts, never the exact number of records. */
export interface ReleasedHistogram {
  edges: number[];
  counts: number[];
  below: number;
  above: number;
}

export interface ReleasedResult {
  value: number | null;
  /** 95 % interval of `value` from the public noise distribution (null when undefined). */
  interval?: [number, number] | null;
  /** Histogram: half-width of a 95 % interval on each bucket count. */
  bucketHalfWidth?: number;
  /** Noisy number of records (count, mean); null when not released (sum, histogram; a pilot kind at L = 1, whose count is `contributors`). */
  records: number | null;
  histogram?: ReleasedHistogram;
  /** Distinct contributing patients, noisy, at least the study's minCohort. */
  contributors: number;
  nodesUsed: number[];
  nodesDown: number[];
  noise: AppliedNoise[];
  /** A pilot kind's centre: the pilot's noisy means the second moments were computed around. */
  centre?: Centre | null;
  /** Automatic bounds (`options.bounds: "auto"`): the bounds the gateway derived and clamped into, by indicator. */
  clampedTo?: DeclaredBounds;
  /** Group-by: one entry a group (then `value` is null). */
  groups?: ReleasedGroup[];
}

export interface QueryView {
  id: string;
  study: string;
  researcher: string;
  purpose: PurposeCoding;
  indicators: string[];
  aggregate: string;
  window: { from: string | null; to: string | null };
  options: QueryOptions;
  status: QueryStatus;
  message: string | null;
  result: ReleasedResult | null;
  privacy: PrivacyPlan & { epsilonSpent: number };
  ledgerSeq: number | null;
  submittedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface AccessLogEntry {
  queryId: string;
  study: string;
  studyTitle: string;
  researcher: string;
  purpose: PurposeCoding;
  indicators: string[];
  aggregate: string;
  status: QueryStatus;
  time: string;
  ledgerSeq: number;
  /** ε this query charged to the patient's own budget. */
  epsilon: number;
}

interface QueryRow {
  id: string;
  study: string;
  researcher: string;
  purpose: string;
  indicators: string[] | string;
  aggregate: AggregateKind;
  window_from: Date | null;
  window_to: Date | null;
  options: QueryOptions | string;
  epsilon: string | number;
  privacy: PrivacyPlan | string;
  status: QueryStatus;
  result: ReleasedResult | string | null;
  message: string | null;
  contributors: number | null;
  epsilon_spent: string | number;
  ledger_seq: number | null;
  budget_period: string | Date | null;
  submitted_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

/** What a query row keeps of the request besides indicators, aggregate and window. */
type QueryOptions = { epsilon: number; pairWindowSeconds?: number; perPatient?: number; includePatientReported?: boolean; filter?: QueryFilter; edges?: number[]; q?: number; groupBy?: GroupBy; bounds?: BoundsOption };

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** Checks the body of POST /queries; every problem names its field. */
export function parseQueryRequest(raw: unknown, opts: Pick<QueryServiceOptions, 'defaultEpsilon' | 'minEpsilon' | 'maxEpsilon'>): QueryRequest {
  // Shape, types, the aggregate's name, the options' keys and the pair window's range: schema/api/query.schema.json.
  type Body = { study: string; indicators: string[]; aggregate: AggregateKind; from?: string | null; to?: string | null; filter?: QueryFilter; groupBy?: GroupBy; options?: { epsilon?: number; pairWindowSeconds?: number; perPatient?: number; includePatientReported?: boolean; edges?: number[]; q?: number; bounds?: AskedBounds } };
  const b = checkBody<Body>('query', raw);
  const aggregate = b.aggregate;
  const wanted = aggregateSpec(aggregate).indicators;
  if (b.indicators.length !== wanted) {
    throw new ValidationError(`"indicators" must list ${wanted === 1 ? 'one indicator' : 'two indicators'} for ${aggregate}`, 'indicators');
  }
  const indicators = b.indicators.map((name, k) => {
    if (!getIndicator(name)) throw new ValidationError(`indicators[${k}]: unknown indicator ${JSON.stringify(name)}`, 'indicators');
    return name;
  });
  if (wanted === 2 && indicators[0] === indicators[1]) throw new ValidationError('"indicators" must name two different indicators', 'indicators');
  const asked = { from: b.from === undefined || b.from === null ? null : parseInstant(b.from, 'from'), to: b.to === undefined || b.to === null ? null : parseInstant(b.to, 'to') };
  if (asked.from !== null && asked.to !== null && Date.parse(asked.to) <= Date.parse(asked.from)) throw new ValidationError('"to" must be after "from" (the window is [from, to))', 'to');
  // Windows snap outward to whole UTC days (disclosure.ts snapWindow): no query isolates an instant.
  const { from, to } = snapWindow(asked.from, asked.to);
  const o = b.options ?? {};
  const epsilon = o.epsilon === undefined ? opts.defaultEpsilon : parseEpsilon(o.epsilon, 'options.epsilon', { min: opts.minEpsilon, max: opts.maxEpsilon });
  let pairWindowSeconds: number | null = null;
  if (o.pairWindowSeconds !== undefined) {
    if (wanted !== 2) throw new ValidationError('"options.pairWindowSeconds" applies to covariance and correlation only', 'options.pairWindowSeconds');
    pairWindowSeconds = o.pairWindowSeconds;
  }
  const rank = parseRankOptions(aggregate, o, getIndicator(indicators[0]!)!);
  const filter = b.filter === undefined ? null : checkQueryFilter(b.filter, aggregate);
  const groupBy = b.groupBy === undefined ? null : checkGroupBy(b.groupBy, aggregate);
  // Every group's predicate joins the filter: the comparisons' limit applies to each combination.
  if (groupBy) for (const g of groupsOf(groupBy)) checkQueryFilter(groupFilter(filter, g), aggregate);
  const bounds = parseDeclaredBounds(o.bounds, { aggregate, indicators });
  return { study: b.study, indicators, aggregate, from, to, epsilon, pairWindowSeconds, perPatient: o.perPatient ?? null, includePatientReported: o.includePatientReported ?? false, filter, rank, groupBy, bounds };
}

function released(h: HistogramResult): ReleasedHistogram {
  // Noisy buckets can be negative: clamp (post-processing). `records` is the exact count: never released.
  const clamp = (x: number) => Math.max(0, x);
  return { edges: h.edges, counts: h.counts.map(clamp), below: clamp(h.below), above: clamp(h.above) };
}

/** Noise parts as the ledger keeps them: measure, ε and sensitivity (and a rank search's rounds, each of that ε). */
const ledgerParts = (parts: ReadonlyArray<NoisePart & { rounds?: number }>) =>
  parts.map((p) => ({ measure: p.measure, epsilon: p.epsilon, sensitivity: p.sensitivity, ...(p.rounds ? { rounds: p.rounds } : {}) }));

/**
 * What a released result's noise was applied with, for the ledger, so that an auditor can check each
 * part's scale against its ε: the parts with the sensitivities used (after the pilot's centre or the
 * derived bounds), the centre, the automatic bounds; with group-by and automatic bounds, each released
 * group's bounds and parts (their sensitivities follow from the group's bounds; a suppressed group
 * released nothing and is left out).
 */
function appliedPrivacy(r: ReleasedResult, req: QueryRequest) {
  if (r.groups && req.bounds === 'auto') return { groups: r.groups.filter((g) => g.clampedTo).map((g) => ({ group: g.group, clampedTo: g.clampedTo, parts: ledgerParts(g.noise ?? []) })) };
  return { parts: ledgerParts(r.noise), ...(r.centre ? { centre: r.centre } : {}), ...(r.clampedTo ? { clampedTo: r.clampedTo } : {}) };
}

/** The columns that settle a query's outcome (written by the compare-and-set on its status). */
type Outcome = Partial<Pick<QueryRow, 'status' | 'message' | 'contributors' | 'epsilon_spent'>> & { result?: string | null };

export class QueryService {
  private readonly running = new Set<Promise<void>>();
  /** Ids of the queries this service scheduled and has not settled yet: never recovered by it. */
  private readonly owned = new Set<string>();
  private closed = false;
  private readonly patientBudget: PatientBudget;

  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly coordinator: Coordinator,
    private readonly studies: StudyService,
    private readonly consents: ConsentService,
    private readonly options: QueryServiceOptions,
  ) {
    this.patientBudget = new PatientBudget(options.patientBudget);
  }

  /**
   * Checks the request and the researcher's membership, reserves the query's epsilon and queues it.
   * Throws BudgetExhaustedError (409) when the budget cannot cover it: the query is then recorded as
   * refused (with its ledger entry) and spends nothing.
   */
  async submit(identity: Identity, raw: unknown): Promise<{ id: string; status: QueryStatus; epsilon: number; epsilonRemaining: number }> {
    if (this.closed) throw new UnavailableError('the gateway is shutting down');
    const req = parseQueryRequest(raw, this.options);
    const study = await this.studies.requireMember(identity, req.study);
    // A demographic is one value a patient (the latest record counts): L = 1; so are the rank kinds and edge histograms.
    const oneValue = req.indicators.some((name) => isDemographic(getIndicator(name)!)) || latestValueOnly(req.aggregate, req.rank);
    const perPatient = Math.min(study.maxContributions, req.perPatient ?? study.maxContributions, oneValue ? 1 : Infinity);
    const plan = planPrivacy({ aggregate: req.aggregate, ind: getIndicator(req.indicators[0]!)!, ind2: req.indicators[1] ? getIndicator(req.indicators[1]) : undefined, epsilon: req.epsilon, perPatient, filtered: req.filter !== null || req.groupBy !== null,
      ...(req.bounds === 'auto' ? { autoBounds: true } : req.bounds ? { declared: declaredValueBounds(req.bounds, req.indicators) } : {}) });
    const id = randomUUID();
    const eps = req.epsilon.toFixed(6);
    const row = {
      id,
      study: study.id,
      researcher: identity.sub,
      purpose: study.purpose.code,
      indicators: JSON.stringify(req.indicators),
      aggregate: req.aggregate,
      window_from: req.from,
      window_to: req.to,
      options: JSON.stringify({
        epsilon: req.epsilon,
        ...(req.pairWindowSeconds !== null ? { pairWindowSeconds: req.pairWindowSeconds } : {}),
        ...(req.perPatient !== null ? { perPatient: req.perPatient } : {}),
        ...(req.includePatientReported ? { includePatientReported: true } : {}),
        ...(req.filter !== null ? { filter: req.filter } : {}),
        ...(req.rank.edges ? { edges: req.rank.edges } : {}),
        ...(req.aggregate === 'quantile' ? { q: req.rank.q } : {}),
        ...(req.groupBy ? { groupBy: req.groupBy } : {}),
        ...(req.bounds ? { bounds: req.bounds } : {}),
      }),
      epsilon: eps,
      privacy: JSON.stringify(plan),
    };
    const outcome = await this.db.knex.transaction(async (trx) => {
      // Atomic reservation: concurrent submissions serialise on the study's row and re-check the budget.
      const reserved = await trx.raw(
        'UPDATE studies SET epsilon_spent = epsilon_spent + ?::numeric WHERE id = ? AND epsilon_spent + ?::numeric <= epsilon_budget RETURNING epsilon_budget, epsilon_spent',
        [eps, study.id, eps],
      );
      const r = (reserved.rows ?? [])[0] as { epsilon_budget: string; epsilon_spent: string } | undefined;
      if (r) {
        await trx('research_queries').insert({ ...row, status: 'queued', epsilon_spent: eps });
        return { refused: null, remaining: Math.round((num(r.epsilon_budget) - num(r.epsilon_spent)) * 1e6) / 1e6 };
      }
      const now = (await trx('studies').where({ id: study.id }).first('epsilon_budget', 'epsilon_spent')) as { epsilon_budget: string; epsilon_spent: string };
      const left = Math.round((num(now.epsilon_budget) - num(now.epsilon_spent)) * 1e6) / 1e6;
      const message = `refused: study "${study.id}" has epsilon ${left} of its privacy budget ${num(now.epsilon_budget)} left and this query needs ${req.epsilon}; nothing was spent`;
      const [entry] = await this.ledger.appendWithin(trx, [this.ledgerEntry(identity.sub, study, id, req, 'refused', null, 0, plan)]);
      await trx('research_queries').insert({ ...row, status: 'refused', message, epsilon_spent: 0, ledger_seq: entry!.seq, finished_at: trx.fn.now() });
      return { refused: message, remaining: left };
    });
    if (outcome.refused !== null) throw new BudgetExhaustedError(outcome.refused, id);
    this.schedule(id);
    return { id, status: 'queued', epsilon: req.epsilon, epsilonRemaining: outcome.remaining };
  }

  /** A query as its study's researchers (and admins) see it; anyone else gets 404. */
  async get(identity: Identity, id: string): Promise<QueryView> {
    const row = (await this.db.knex('research_queries').where({ id }).first()) as QueryRow | undefined;
    const hidden = () => new NotFoundError(`no query ${JSON.stringify(id)} in your studies`);
    if (!row) throw hidden();
    if (identity.role !== 'admin') {
      if (identity.studies && !identity.studies.includes(row.study)) throw hidden();
      if (!(await this.studies.isMember(row.study, identity.sub))) throw hidden();
    }
    return this.view(row);
  }

  /** The researcher's own queries, newest first. */
  async listOwn(identity: Identity, study?: string): Promise<QueryView[]> {
    const q = this.db.knex('research_queries').where({ researcher: identity.sub }).orderBy([{ column: 'submitted_at', order: 'desc' }, { column: 'id' }]).limit(500);
    if (study) q.andWhere({ study });
    return ((await q) as QueryRow[]).map((r) => this.view(r));
  }

  /** Every query that used this patient's data (released or suppressed), oldest first. */
  async accessLog(patient: string): Promise<AccessLogEntry[]> {
    const rows = (await this.db.knex('query_contributors as c')
      .join('research_queries as q', 'q.id', 'c.query_id')
      .join('studies as s', 's.id', 'q.study')
      .where('c.patient', patient)
      .whereIn('q.status', ['done', 'suppressed'])
      .orderBy([{ column: 'q.finished_at' }, { column: 'q.id' }])
      .select('q.id', 'q.study', 's.title', 'q.researcher', 'q.purpose', 'q.indicators', 'q.aggregate', 'q.status', 'q.finished_at', 'q.ledger_seq', 'c.epsilon')) as Array<
      Pick<QueryRow, 'id' | 'study' | 'researcher' | 'purpose' | 'indicators' | 'aggregate' | 'status' | 'finished_at' | 'ledger_seq'> & { title: string; epsilon: string | number }
    >;
    return rows.map((r) => ({
      queryId: r.id,
      study: r.study,
      studyTitle: r.title,
      researcher: r.researcher,
      purpose: purposeCoding(r.purpose),
      indicators: json<string[]>(r.indicators),
      aggregate: r.aggregate,
      status: r.status,
      time: iso(r.finished_at) as string,
      ledgerSeq: Number(r.ledger_seq),
      epsilon: num(r.epsilon),
    }));
  }

  /**
   * Run by the gateway that holds the writer lease when it takes it (app/writer-lease.ts), never by
   * an admin command: queries left queued or running by a gateway that stopped (no runner owns them
   * any more) are marked failed, their reserved epsilon goes back to the study's budget, and each gets
   * its `query` ledger entry (status failed, epsilonSpent 0). Queries this service runs itself are
   * left alone. Returns the ids recovered.
   */
  async recoverInterrupted(): Promise<string[]> {
    const rows = (await this.db.knex('research_queries').whereIn('status', ['queued', 'running']).orderBy('submitted_at')) as QueryRow[];
    const recovered: string[] = [];
    for (const row of rows) {
      if (this.owned.has(row.id)) continue;
      const study = (await this.studies.get(row.study)) as Study;
      const message = `failed: the gateway stopped while the query was ${row.status}; nothing was released and the query's epsilon was returned to the study's budget`;
      const done = await this.settle(row, ['queued', 'running'], { status: 'failed', message, epsilon_spent: 0 }, async (trx) => {
        await trx.raw('UPDATE studies SET epsilon_spent = GREATEST(0, epsilon_spent - ?::numeric) WHERE id = ?', [num(row.epsilon).toFixed(6), row.study]);
        await this.refundPatients(trx, row);
        return this.ledgerEntry(row.researcher, study, row.id, this.request(row), 'failed', null, 0, json<PrivacyPlan>(row.privacy));
      });
      if (done) recovered.push(row.id);
    }
    if (recovered.length > 0) this.options.log?.(`recovered ${recovered.length} interrupted quer${recovered.length === 1 ? 'y' : 'ies'}: marked failed, epsilon released`, null);
    return recovered;
  }

  /**
   * The compare-and-set that settles a query: in one transaction, moves the row from one of `from`
   * to the outcome, and only if that took the row runs `effects` (refund, contributors) and appends
   * the ledger entry it returns. False when another runner or a recovery settled the query first.
   */
  private async settle(
    row: QueryRow,
    from: QueryStatus[],
    outcome: Outcome,
    effects: (trx: Knex.Transaction) => Promise<ReturnType<QueryService['ledgerEntry']>>,
  ): Promise<boolean> {
    return this.db.knex.transaction(async (trx) => {
      const claimed = await trx('research_queries').where({ id: row.id }).whereIn('status', from).update({ ...outcome, finished_at: trx.fn.now() });
      if (!claimed) return false;
      const [entry] = await this.ledger.appendWithin(trx, [await effects(trx)]);
      await trx('research_queries').where({ id: row.id }).update({ ledger_seq: entry!.seq });
      return true;
    });
  }

  /** Resolves once every query started so far has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  private schedule(id: string): void {
    this.owned.add(id);
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(id))
      .catch((err) => this.options.log?.(`query ${id}: runner failed`, err))
      .finally(() => {
        this.owned.delete(id);
        this.running.delete(p);
      });
    this.running.add(p);
  }

  private view(r: QueryRow): QueryView {
    const options = json<QueryView['options']>(r.options);
    return {
      id: r.id,
      study: r.study,
      researcher: r.researcher,
      purpose: purposeCoding(r.purpose),
      indicators: json<string[]>(r.indicators),
      aggregate: r.aggregate,
      window: { from: iso(r.window_from), to: iso(r.window_to) },
      options,
      status: r.status,
      message: r.message,
      result: r.result === null ? null : json<ReleasedResult>(r.result),
      privacy: { ...json<PrivacyPlan>(r.privacy), epsilonSpent: num(r.epsilon_spent) },
      ledgerSeq: r.ledger_seq === null ? null : Number(r.ledger_seq),
      submittedAt: iso(r.submitted_at) as string,
      startedAt: iso(r.started_at),
      finishedAt: iso(r.finished_at),
    };
  }

  private request(r: QueryRow): QueryRequest {
    const options = json<QueryView['options']>(r.options);
    return {
      study: r.study,
      indicators: json<string[]>(r.indicators),
      aggregate: r.aggregate,
      from: iso(r.window_from),
      to: iso(r.window_to),
      epsilon: options.epsilon,
      pairWindowSeconds: options.pairWindowSeconds ?? null,
      perPatient: options.perPatient ?? null,
      includePatientReported: options.includePatientReported ?? false,
      filter: options.filter ?? null,
      rank: { edges: options.edges ?? null, q: r.aggregate === 'median' ? 0.5 : (options.q ?? null) },
      groupBy: options.groupBy ?? null,
      bounds: options.bounds ?? null,
    };
  }

  /**
   * A query's ledger entry. `privacy` is the plan as submitted (a pilot kind's and automatic bounds'
   * sensitivities are upper bounds until the pilot ran); a released result adds `released`, what the
   * noise was applied with (appliedPrivacy).
   */
  private ledgerEntry(researcher: string, study: Study, queryId: string, req: QueryRequest, status: QueryStatus, contributors: number | null, epsilonSpent: number, plan: PrivacyPlan, result: ReleasedResult | null = null) {
    return {
      kind: 'query' as const,
      actor: `researcher:${researcher}`,
      payload: {
        queryId,
        study: study.id,
        purpose: study.purpose.code,
        indicators: req.indicators,
        aggregate: req.aggregate,
        window: { from: req.from, to: req.to },
        includePatientReported: req.includePatientReported,
        ...(req.filter ? { filter: req.filter } : {}),
        ...(req.rank.edges ? { edges: req.rank.edges } : {}),
        ...(req.aggregate === 'quantile' ? { q: req.rank.q } : {}),
        ...(req.groupBy ? { groupBy: req.groupBy } : {}),
        ...(req.bounds ? { bounds: req.bounds } : {}),
        status,
        // As released: null unless the result was released (suppressed: "fewer than minCohort").
        contributors,
        minCohort: study.minCohort,
        epsilonSpent,
        privacy: { mechanism: plan.mechanism, parts: ledgerParts(plan.parts) },
        ...(result ? { released: appliedPrivacy(result, req) } : {}),
      },
    };
  }

  private async run(id: string): Promise<void> {
    const claimed = await this.db.knex('research_queries').where({ id, status: 'queued' }).update({ status: 'running', started_at: this.db.knex.fn.now() });
    if (!claimed) return;
    const row = (await this.db.knex('research_queries').where({ id }).first()) as QueryRow;
    const req = this.request(row);
    const plan = json<PrivacyPlan>(row.privacy);
    const study = (await this.studies.get(row.study)) as Study;
    try {
      const at = new Date();
      // Consent must cover every indicator the query reads, the filter's included.
      const indicators = [...new Set([...req.indicators, ...(req.filter ? filterIndicators(req.filter) : []), ...(req.groupBy ? [groupIndicator(req.groupBy)] : [])])];
      const cohort = await this.consents.cohort({ study: study.id, purpose: row.purpose, indicators, at });
      const admitted = await this.admitPatients(row, await this.contributorsOf(req, cohort), at);
      // The DP threshold: suppression is decided on the noisy count, which is also what is released.
      const gate = thresholdContributors(admitted.length, part(plan, 'contributors'), study.minCohort);
      if (!gate.released) {
        const message = `suppressed: fewer than ${study.minCohort} contributors (the study's minimum cohort size, decided on a noisy count); no result is released`;
        await this.finish(row, study, req, plan, { status: 'suppressed', message, result: null, reported: null });
        return;
      }
      const result = req.groupBy ? await this.computeGroups(req, plan, admitted, gate.reported, study) : await this.compute(req, plan, admitted, gate.reported);
      result.contributors = gate.reported;
      await this.finish(row, study, req, plan, { status: 'done', message: null, result, reported: gate.reported });
    } catch (err) {
      await this.fail(row, study, req, plan, err);
    }
  }

  /**
   * Charges the query's ε to every patient who could contribute and whose own budget allows it
   * (patient-budget.ts); only they are counted, and they are recorded for their access logs.
   */
  private async admitPatients(row: QueryRow, candidates: string[], at: Date): Promise<string[]> {
    const period = this.patientBudget.periodOf(at);
    const epsilon = num(row.epsilon);
    return this.db.knex.transaction(async (trx) => {
      const admitted = await this.patientBudget.admit(trx, candidates, epsilon, period);
      for (let i = 0; i < admitted.length; i += 1000) {
        await trx('query_contributors').insert(admitted.slice(i, i + 1000).map((patient) => ({ query_id: row.id, patient, epsilon: epsilon.toFixed(6) })));
      }
      await trx('research_queries').where({ id: row.id }).update({ budget_period: period });
      return admitted;
    });
  }

  /** Gives the ε back to the patients a query charged, when it released nothing. */
  private async refundPatients(trx: Knex.Transaction, row: QueryRow): Promise<void> {
    const current = (await trx('research_queries').where({ id: row.id }).first('budget_period')) as { budget_period: string | Date | null } | undefined;
    const period = current?.budget_period ?? null;
    if (period === null) return;
    const patients = ((await trx('query_contributors').where({ query_id: row.id }).select('patient')) as Array<{ patient: string }>).map((r) => r.patient);
    await this.patientBudget.refund(trx, patients, num(row.epsilon), typeof period === 'string' ? period.slice(0, 10) : period.toISOString().slice(0, 10));
    await trx('query_contributors').where({ query_id: row.id }).delete();
  }

  /** A patient's own ε: spent in the current period, and the budget. */
  async patientSpend(patient: string): Promise<PatientSpend> {
    return this.patientBudget.spendOf(this.db.knex, patient);
  }

  /**
   * Distinct patients of the cohort who could contribute (clear metadata): with records of every
   * queried indicator in the window, and for pair kinds with at least one pair within the pair window.
   */
  private async contributorsOf(req: QueryRequest, cohort: string[]): Promise<string[]> {
    if (cohort.length === 0) return [];
    if (aggregateSpec(req.aggregate).indicators === 2) return this.pairContributorsOf(req, cohort);
    const where = ['r.indicator = ANY(?::text[])', 'r.patient = ANY(?::text[])', 'r.erased_at IS NULL', ...sourceClauses(req, 'r')];
    const bindings: Knex.RawBinding[] = [textArray(req.indicators), textArray(cohort)];
    if (req.from) {
      where.push('r.effective_start >= ?::timestamptz');
      bindings.push(req.from);
    }
    if (req.to) {
      where.push('r.effective_start < ?::timestamptz');
      bindings.push(req.to);
    }
    bindings.push(req.indicators.length);
    const res = await this.db.knex.raw(`SELECT r.patient FROM records r WHERE ${where.join(' AND ')} GROUP BY r.patient HAVING count(DISTINCT r.indicator) = ?`, bindings);
    return ((res.rows ?? []) as Array<{ patient: string }>).map((r) => r.patient);
  }

  private async pairContributorsOf(req: QueryRequest, cohort: string[]): Promise<string[]> {
    const window = req.pairWindowSeconds ?? 3600;
    const where = ['a.indicator = ?', 'a.patient = ANY(?::text[])', 'a.erased_at IS NULL', ...sourceClauses(req, 'a')];
    const bindings: Knex.RawBinding[] = [req.indicators[1]!, window, window, req.indicators[0]!, textArray(cohort)];
    if (req.from) {
      where.push('a.effective_start >= ?::timestamptz');
      bindings.push(req.from);
    }
    if (req.to) {
      where.push('a.effective_start < ?::timestamptz');
      bindings.push(req.to);
    }
    const res = await this.db.knex.raw(
      `SELECT DISTINCT a.patient FROM records a JOIN records b
         ON b.patient = a.patient AND b.indicator = ? AND b.erased_at IS NULL${sourceClauses(req, 'b').map((c) => ` AND ${c}`).join('')}
        AND b.effective_start >= a.effective_start - make_interval(secs => ?)
        AND b.effective_start <= a.effective_start + make_interval(secs => ?)
       WHERE ${where.join(' AND ')}`,
      bindings,
    );
    return ((res.rows ?? []) as Array<{ patient: string }>).map((r) => r.patient);
  }

  /**
   * Runs the noised aggregate over the compute nodes (after the pilot of a pilot kind, pilot.ts) and
   * keeps only what may be released. `contributors` is the gate's noisy count (the count of a pilot
   * kind with L = 1).
   */
  private async compute(req: QueryRequest, submitted: PrivacyPlan, cohort: string[], contributors: number): Promise<ReleasedResult> {
    const ind = getIndicator(req.indicators[0]!) as Indicator;
    const ind2 = req.indicators[1] ? getIndicator(req.indicators[1]) : undefined;
    const spec = aggregateSpec(req.aggregate);
    // The pilot mean of a filtered query is filtered too: the centre is the filtered cohort's.
    const base = { perPatient: submitted.perPatient, includePatientReported: req.includePatientReported, from: req.from, to: req.to, cohort, ...(req.filter ? { filter: filterWithDomains(req.filter) } : {}) };
    // Automatic bounds: derived from the pilot's noisy sums, then clamped into like declared ones.
    const derived = req.bounds === 'auto' ? await autoBounds(this.coordinator, base, submitted, contributors, ind, ind2) : null;
    const bounds = derived ?? (req.bounds === 'auto' ? null : req.bounds);
    // Declared (or derived) bounds: the values are clamped into them, and no pilot mean is needed (disclosure.ts).
    const pilot = spec.pilot && !bounds ? await pilotCentre(this.coordinator, base, submitted, contributors, ind, ind2) : null;
    const plan = pilot ? centrePlan(submitted, valueBounds(ind, ind2), pilot.centre)
      : derived ? boundsPlan(submitted, { aggregate: req.aggregate, ind, ...(ind2 ? { ind2 } : {}) }, declaredValueBounds(derived, req.indicators)) : submitted;
    const nodeParts = mainParts(plan);
    // A filtered rank kind: the rank is of the filter's own noisy total, not of the gate's (unfiltered) count.
    const totalPart = rankTotalPart(plan);
    const total = totalPart ? await this.rankTotal(base, ind, totalPart) : contributors;
    const r = await this.coordinator.aggregate({
      ...base,
      ...(plan.centre ? { centre: plan.centre } : {}),
      indicator: ind.name,
      aggregate: req.aggregate,
      ...(ind2 ? { indicator2: ind2.name } : {}),
      ...(req.pairWindowSeconds !== null ? { pairWindowSeconds: req.pairWindowSeconds } : {}),
      noise: Object.fromEntries(nodeParts.map((p) => [p.measure, { epsilon: p.epsilon, sensitivity: p.sensitivity }])),
      bounds: valueBounds(ind, ind2),
      ...(bounds ? { clamp: clampOf(bounds, ind, ind2) } : {}),
      ...rankQuery(req.rank, ind, total),
    });
    const by = r.noisedBy ?? { participants: Math.max(1, r.nodesUsed.length), t: 0 };
    const scaleOf = (p: NoisePart) => noisePartScale(p, ind, ind2);
    // A pilot kind's measures as released (pilot.ts), a clamped correlation's with its floors as the
    // pilot's, and the statistic from them; otherwise the coordinator's own.
    const releasedMeasures = !r.opened ? null
      : pilot ? pilotOpened(spec.kind, plan, r.opened, { contributors, centreError: pilot.centreError, centreNoise: pilot.centreNoise, by, ind, ind2 })
      : spec.kind === 'correlation' ? { ...r.opened, floors: correlationFloors(plan, ind.scale, ind2?.scale ?? 0, by) } : null;
    const opened = releasedMeasures ?? r.opened;
    const raw = releasedMeasures ? spec.finish(releasedMeasures) : r.value;
    // Post-processing with public bounds only (registry: the kind's `release`).
    const range = bounds ? declaredValueBounds(bounds, req.indicators).x : ind.range;
    const value = raw === null || !Number.isFinite(raw) ? null : spec.release(raw, range);
    const noise = releaseNoise(plan, ind, ind2, by);
    const histNoise = noise.find((n) => n.measure === 'histogram');
    return {
      value,
      ...(spec.kind === 'histogram' ? {} : { interval: spec.rankSearch ? searchInterval(r, req.rank, { total, part: totalPart ?? part(plan, 'contributors') }, plan, by, ind) : value !== null && opened ? releaseInterval(spec, opened, noise, range) : null }),
      ...(histNoise ? { bucketHalfWidth: countHalfWidth(histNoise) } : {}),
      // A filtered rank kind releases its noisy total (which a group's threshold reads); others their noisy count.
      records: totalPart ? total : r.count === null ? null : Math.max(0, r.count),
      ...(r.histogram ? { histogram: released(r.histogram) } : {}),
      contributors: 0,
      nodesUsed: r.nodesUsed,
      nodesDown: r.nodesDown,
      noise: plan.parts.map((p) => perRoundNoise(p, r.search?.rounds.length)).map((p) => ({ ...p, stdDev: noiseStdDev(p, scaleOf(p), noiseShape(p, scaleOf(p), by)) })),
      ...(plan.pilot ? { centre: plan.centre } : {}),
      ...(derived ? { clampedTo: derived } : {}),
    };
  }

  /** A filtered rank kind's total N̂: the filter's patients (L = 1) counted and noised by the nodes with `p`. */
  private async rankTotal(base: Omit<AggregateQuery, 'indicator' | 'aggregate'>, ind: Indicator, p: NoisePart): Promise<number> {
    const r = await this.coordinator.aggregate({ ...base, perPatient: 1, indicator: ind.name, aggregate: 'count', noise: { epsilon: p.epsilon, sensitivity: p.sensitivity } });
    return Math.max(0, r.count ?? 0);
  }

  /** Group-by: every group a filtered run with the whole plan (disjoint groups), thresholded on its noisy count. */
  private async computeGroups(req: QueryRequest, plan: PrivacyPlan, cohort: string[], contributors: number, study: Study): Promise<ReleasedResult> {
    // The count is of records, up to L a patient: minCohort patients are minCohort·L records at most (a rank kind: its total N̂).
    const floor = study.minCohort * plan.perPatient + thresholdMargin(rankTotalPart(plan) ?? part(plan, 'count'));
    const { first, groups } = await runGroups(groupsOf(req.groupBy!), req.filter, floor, (filter) => this.compute({ ...req, filter }, plan, cohort, contributors));
    const { clampedTo: _, ...shared } = first;
    return { ...shared, value: null, interval: null, records: null, groups };
  }

  /** Records a done or suppressed outcome, unless the query was settled elsewhere (then nothing is released). */
  private async finish(
    row: QueryRow,
    study: Study,
    req: QueryRequest,
    plan: PrivacyPlan,
    o: { status: 'done' | 'suppressed'; message: string | null; result: ReleasedResult | null; reported: number | null },
  ): Promise<void> {
    const outcome: Outcome = { status: o.status, message: o.message, result: o.result === null ? null : JSON.stringify(o.result), contributors: o.reported };
    // The contributors were recorded (and charged) when the query was admitted (admitPatients).
    const settled = await this.settle(row, ['running'], outcome, async () => {
      return this.ledgerEntry(row.researcher, study, row.id, req, o.status, o.reported, num(row.epsilon), plan, o.result);
    });
    if (!settled) this.discarded(row.id, o.status);
  }

  /** Nothing was released: the query's epsilon goes back to the study's budget. */
  private async fail(row: QueryRow, study: Study, req: QueryRequest, plan: PrivacyPlan, err: unknown): Promise<void> {
    const expected = err instanceof HgdError || err instanceof MpcError;
    const reason = expected ? err.message : 'internal error';
    if (!expected) this.options.log?.(`query ${row.id} failed`, err);
    const message = `failed: ${reason}; nothing was released and the query's epsilon was returned to the study's budget`;
    const settled = await this.settle(row, ['running'], { status: 'failed', message, epsilon_spent: 0 }, async (trx) => {
      await trx.raw('UPDATE studies SET epsilon_spent = epsilon_spent - ?::numeric WHERE id = ?', [num(row.epsilon).toFixed(6), study.id]);
      await this.refundPatients(trx, row);
      return this.ledgerEntry(row.researcher, study, row.id, req, 'failed', null, 0, plan);
    });
    if (!settled) this.discarded(row.id, 'failed');
  }

  private discarded(id: string, status: QueryStatus): void {
    this.options.log?.(`query ${id}: already settled elsewhere (recovered as failed); its ${status} outcome is discarded and nothing is released`, null);
  }
}
