/**
 * Histograms, with the catalogue's edges or the researcher's, on secure comparisons, in one run of the
 * three nodes (usage-layer/node/histogram.ts): each cohort patient's latest value in the window is
 * compared with every edge ([x ≥ e_j], one comparison a patient and edge, after a cohort filter's),
 * and the buckets below e_0, [e_j, e_{j+1}) and at or above e_B are differences of the sums. The query
 * runs with L = 1, so a patient is one value and lies in exactly one bucket: the buckets are disjoint
 * by patient and each is noised with the full ε and sensitivity 1 (parallel composition; neighbours
 * differ by adding or removing one patient, which changes one bucket by 1). Nodes see no bucket bit:
 * the bits are shared, only the noisy counts are opened. With a cohort filter a patient it leaves out
 * is in no bucket: still disjoint by patient.
 */
import { randomUUID } from 'node:crypto';
import { shareFromHex } from '../../mpc/codec';
import { comparisonPlan, STATISTICAL_BITS, type ValueDomain } from '../../mpc/compare';
import { filterLeaves } from '../../mpc/filters';
import { newFaults, openSigned } from '../../mpc/open';
import { dealCompareMaterial, materialBytes, MAX_DEALT_COMPARISONS } from '../../mpc/preprocessing';
import { ValidationError } from '../../storage-layer/errors';
import { MAX_HISTOGRAM_EDGES, MAX_ROUND_VALUES, type HistogramRequest, type NoiseSpec } from '../../parties/wire';
import { askAll, sealedMaterialFor, threeNodesUp, threePartyResult } from './ask-all';
import type { CoordinatorContext } from './context';
import type { AggregateQuery, AggregateResult, ByteCounts } from './types';
import { noiseMap } from './validate';

/** At most this many edges: one comparison a patient and edge. */
const MAX_EDGES = MAX_HISTOGRAM_EDGES;

/** Throws (400, field `options.edges`) unless the edges are 2..MAX_EDGES strictly increasing numbers inside the range. */
export function checkEdgesInRange(edges: readonly number[], domain: ValueDomain): void {
  const bad = (why: string) => new ValidationError(`options.edges: ${why}`, 'options.edges');
  if (!Array.isArray(edges) || edges.length < 2 || edges.length > MAX_EDGES) throw bad(`give 2 to ${MAX_EDGES} edges`);
  edges.forEach((e, k) => {
    if (typeof e !== 'number' || !Number.isFinite(e)) throw bad('every edge must be a finite number');
    if (e < domain.min || e > domain.max) throw bad(`${e} is outside the indicator's range [${domain.min}, ${domain.max}]`);
    if (k > 0 && !(e > (edges[k - 1] as number))) throw bad('edges must be strictly increasing');
  });
}

/** The mask bits: the widest of the filter's leaves and the edges' comparisons, plus σ. */
function maskBitsOf(q: AggregateQuery, domain: ValueDomain): number {
  const leaves = q.filter ? filterLeaves(q.filter).map((l) => comparisonPlan(l.op, l.value, l.domain).valueBits) : [];
  return Math.max(comparisonPlan('>=', domain.min, domain).valueBits, ...leaves) + STATISTICAL_BITS;
}

/**
 * How many comparisons' material fits a node's request body of `limit` bytes beside the cohort: the
 * material is sealed to the node (base64url) inside the request, which the transport seals again
 * (base64url): 16/9 of its bytes; a pseudonym takes about 90 bytes so; 90 % of the limit, less 64 KiB
 * for the rest. Infinity without a known limit.
 */
export function comparisonsInRequest(limit: number | undefined, cohort: number, maskBits: number): number {
  if (limit === undefined) return Infinity;
  const perComparison = (materialBytes(1024, maskBits) / 1024) * (16 / 9);
  return Math.max(0, Math.floor((0.9 * limit - 90 * cohort - 65_536) / perComparison));
}

/** One run's part of a histogram: consecutive edges, and whether it releases below and above. */
export interface HistogramRun {
  edges: number[];
  below: boolean;
  above: boolean;
}

/**
 * The runs of a histogram when one run may take at most `perRun` edges (the dealer's limit a run over
 * the cohort): consecutive slices that overlap by one edge, so every interior bucket [e_j, e_{j+1}) is
 * in exactly one run; the first also releases below, the last above. Throws when a run cannot take
 * two edges (one interior bucket).
 */
export function histogramRuns(edges: readonly number[], perRun: number): HistogramRun[] {
  if (perRun < 2) throw new ValidationError('a histogram over this cohort needs at least 2 comparisons a patient in one run, more than a run takes (the dealer\'s limit, or the nodes\' request size, HGD_BODY_LIMIT): narrow the cohort, the window or the filter', 'cohort');
  const runs: HistogramRun[] = [];
  for (let first = 0; first < edges.length - 1; first += perRun - 1) {
    runs.push({ edges: edges.slice(first, first + perRun), below: first === 0, above: first + perRun >= edges.length });
  }
  return runs;
}

/** What every run of one histogram shares: the domain, the cohort, the filter's leaves, the mask bits, the nodes. */
interface HistogramScope {
  domain: ValueDomain;
  cohort: string[];
  leaves: number;
  maskBits: number;
  up: number[];
  bytes: ByteCounts;
}

/** The requests of one run, one per node: the same run with that node's sealed material. */
function histogramRequests(ctx: CoordinatorContext, q: AggregateQuery, run: HistogramRun, o: HistogramScope): HistogramRequest[] {
  const { domain, cohort, maskBits } = o;
  const queryId = randomUUID();
  // The filter's comparisons (one a leaf and cohort patient) first, then one a patient and edge.
  const m = (o.leaves + run.edges.length) * cohort.length;
  const material = m > 0 ? dealCompareMaterial(m, maskBits) : null;
  const spec = noiseMap(q)?.histogram as NoiseSpec | undefined;
  return o.up.map((id) => {
    return {
      queryId, indicator: q.indicator, from: q.from ?? null, to: q.to ?? null, cohort, perPatient: 1,
      ...(q.includePatientReported ? { includePatientReported: true } : {}),
      ...run, domain, filter: q.filter ?? null, maskBits,
      material: sealedMaterialFor(ctx, id, queryId, material),
      participants: o.up, noise: spec ? { histogram: spec } : null,
    };
  });
}

/** One run: the three nodes' answers, and its buckets opened (three shares of degree 1: a wrong one is detected, not located). */
async function runHistogramPart(ctx: CoordinatorContext, q: AggregateQuery, run: HistogramRun, o: HistogramScope): Promise<number[]> {
  const answers = await askAll(ctx, histogramRequests(ctx, q, run, o), o.bytes, {
    what: 'the histogram', call: (client, r) => client.histogram(r), agreement: (a) => `${a.records}|${a.digest}|${a.buckets.length}`,
  });
  const faults = newFaults();
  return answers[0]!.buckets.map((_, b) => Number(openSigned(`histogram bucket ${b}`, answers.map((a) => ({ x: a.node, y: shareFromHex(a.buckets[b] as string) })), ctx.t, faults)));
}

export async function runEdgeHistogram(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  const { edges, domain } = q;
  if (!edges || !domain) throw new ValidationError('a histogram needs its edges (the catalogue\'s or the researcher\'s) and the indicator\'s domain', 'edges');
  checkEdgesInRange(edges, domain);
  if (!q.cohort) throw new ValidationError('a histogram needs its cohort (the material is dealt per cohort patient)', 'cohort');
  const cohort = [...new Set(q.cohort)].sort();
  const leaves = q.filter ? filterLeaves(q.filter).length : 0;
  const maskBits = maskBitsOf(q, domain);
  // A run's comparisons: what the dealer deals for, what one round message carries (cmp-open opens one
  // value a comparison) and what fits a node's request body, whichever is least.
  const maxComparisons = Math.min(ctx.maxComparisonsPerRun ?? MAX_DEALT_COMPARISONS, MAX_ROUND_VALUES, comparisonsInRequest(ctx.maxRequestBytes, cohort.length, maskBits));
  const runs = histogramRuns(edges, Math.floor(maxComparisons / Math.max(1, cohort.length)) - leaves);
  const { h, bytes } = await threeNodesUp(ctx, 'a histogram');
  const scope: HistogramScope = { domain, cohort, leaves, maskBits, up: h.up, bytes };
  // Runs one after another: each deals its own material (the dealer's limit is a run's).
  const counts: number[] = [];
  for (const run of runs) counts.push(...(await runHistogramPart(ctx, q, run, scope)));
  const r = threePartyResult(q, { h, bytes, started }, { count: 0n }, null, false);
  return {
    ...r, opened: undefined,
    // `records`: the sum of the (noisy, when noised) bucket counts; no node knows the exact number.
    histogram: { edges: [...edges], counts: counts.slice(1, -1), below: counts[0] as number, above: counts[counts.length - 1] as number, records: counts.reduce((x, y) => x + y, 0) },
  };
}
