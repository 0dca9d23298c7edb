/** What the coordinator is asked and what it answers (usage-layer/coordinator/coordinator.ts). */
import type { AggregateKind, Centre, LinearMeasure, OpenedMeasures, ProductMeasure, ValueBounds } from '../../mpc/aggregates';
import type { ValueDomain } from '../../mpc/compare';
import type { HistogramCounts } from '../../mpc/histogram';
import type { FilterTree } from '../../mpc/filters';
import type { ClampSpec, FilterLeafSpec, NoiseByMeasure, NoiseSpec } from '../../parties/wire';

export type { AggregateKind } from '../../mpc/aggregates';

/** Noise per measure (see AggregateQuery.noise). */
export type AggregateNoise = NoiseByMeasure<LinearMeasure> & NoiseByMeasure<ProductMeasure> & NoiseByMeasure<'histogram'>;

export interface AggregateQuery {
  indicator: string;
  aggregate: AggregateKind;
  /** Inclusive lower bound on effective start (instant), null/undefined = unbounded. */
  from?: string | null;
  /** Exclusive upper bound on effective start. */
  to?: string | null;
  /** Pseudonyms to include (consented cohort); null/undefined = all. */
  cohort?: string[] | null;
  /** Second indicator (covariance, correlation). */
  indicator2?: string;
  /** Pairing window for covariance/correlation (default 3600 s). */
  pairWindowSeconds?: number;
  /**
   * Distributed DP noise added in shares by every node. Either one spec (count, sum, histogram only:
   * the aggregate's single measure), or one spec per measure among the aggregate's noisable measures
   * (mpc/aggregates.ts noisableMeasures). A measure left out is opened exactly; an exact count is not
   * reported when anything else is noised.
   */
  noise?: NoiseSpec | AggregateNoise;
  /**
   * Linear queries: 'all' (default) asks every node and checks the redundant shares; 'minimal' asks
   * only t + 1 nodes (the next ones if one fails): less work, but a wrong share goes unnoticed.
   */
  nodes?: 'all' | 'minimal';
  /**
   * Public bounds of one value (the catalogue range): when given, an aggregate whose count could
   * overflow the field is refused before anything is opened (mpc/fixed-point.ts assertAggregateCapacity).
   */
  bounds?: ValueBounds;
  /** Contribution bound L: each patient's latest L records (pairs) only; unset = every record. */
  perPatient?: number | null;
  /** Whether patient-reported records count (the nodes select on their source); unset = provider records only. */
  includePatientReported?: boolean;
  /**
   * The public centre of a centred kind (mpc/aggregates.ts `centred`): the nodes return sums of x − c;
   * the statistic is the same (the mean adds c back). Unset = uncentred sums.
   */
  centre?: Centre;
  /**
   * Cohort filter on each patient's latest value of the leaves' indicators in the window (filterable
   * kinds only, mpc/aggregates.ts; needs `cohort` and all three nodes): see filtered.ts.
   */
  filter?: FilterTree<FilterLeafSpec>;
  /**
   * Values clamped into bounds the researcher declared, per indicator (kinds with `clamped` in
   * mpc/aggregates.ts; needs `cohort`, `perPatient` and all three nodes): see clamped.ts.
   */
  clamp?: { x: ClampSpec; y?: ClampSpec };
  /**
   * A histogram with the researcher's edges (edge-histogram.ts): one filtered count per bucket over
   * the patients' latest values (L = 1); needs `cohort`, `domain` and all three nodes.
   */
  edges?: number[];
  /** The indicator's catalogue range and scale, for `edges` and the quantile kinds' comparisons. */
  domain?: ValueDomain;
  /** median / quantile (quantile.ts): q in (0, 1) and the released number of contributors N̂ the rank is of. */
  quantile?: { q: number; total: number };
}

/** One round of a quantile's noisy binary search: the public threshold and the noisy count of x ≥ it. */
export interface SearchRound {
  threshold: number;
  count: number;
}

export interface HistogramResult extends HistogramCounts {
  /** Records with this histogram layout. */
  records: number;
}

export interface ByteCounts {
  coordinatorToNodes: number;
  nodesToCoordinator: number;
  nodeToNode: number;
  total: number;
}

/** An attempt of a noised linear query that failed before t + 1 nodes answered (nothing of it was opened). */
export interface FailedAttempt {
  participants: number[];
  nodeErrors: Record<number, string>;
}

export interface AggregateResult {
  aggregate: AggregateKind;
  indicator: string;
  indicator2?: string;
  /** The statistic; null when undefined (no records, n < 2, zero variance) and for histograms. */
  value: number | null;
  histogram?: HistogramResult;
  /** Records (pairs for covariance/correlation); noisy for a noised count; null for a noised sum/histogram. */
  count: number | null;
  nodesUsed: number[];
  nodesDown: number[];
  /** Nodes that answered but hold other records/dealings than the majority (pending deliveries). */
  nodesOutOfSync: number[];
  nodeErrors: Record<number, string>;
  /** Nodes left out of a product protocol rerun because they returned wrong shares. */
  nodesExcluded?: number[];
  /**
   * Noised linear queries: earlier attempts that failed (a participant died during the noise round)
   * and were retried with a fresh query id and fresh noise.
   */
  failedAttempts?: FailedAttempt[];
  /** True when more than t + 1 shares were opened, so a wrong share would have been detected. */
  consistencyChecked: boolean;
  /** A wrong share was found and corrected (only reported when it could be located). */
  inconsistentShares?: { suspects: number[]; located: true; measures: string[] };
  noised: boolean;
  /**
   * The opened (noisy, when noised) measures the value was computed from, for intervals. Internal: the
   * query service never releases them as such.
   */
  opened?: OpenedMeasures;
  /** Noised: how many nodes added noise parts, and the sharing degree t (the noise's shape, mpc/dp-noise.ts). */
  noisedBy?: { participants: number; t: number };
  bytes: ByteCounts;
  ms: number;
  /** median / quantile: the search's rounds (noisy, releasable) and the width of the interval it ended in (0: one unit). */
  search?: { rounds: SearchRound[]; resolution: number };
}

export interface Coordinator {
  aggregate(query: AggregateQuery): Promise<AggregateResult>;
  /** Which nodes answer a signed health check now. */
  health(): Promise<{ up: number[]; down: number[]; errors: Record<number, string> }>;
}

export interface CoordinatorOptions {
  /** Per-request timeout for aggregate requests (default 120 s). */
  timeoutMs?: number;
  /** Node base URLs (default config.nodes.urls). */
  urls?: string[];
  /** Comparisons a histogram run deals for at most (default MAX_DEALT_COMPARISONS; tests lower it to split runs). */
  maxComparisonsPerRun?: number;
}
