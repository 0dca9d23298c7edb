/**
 * Clamped aggregates: sum, mean, variance, stddev, covariance and correlation over values clamped into
 * bounds the researcher declared (mpc/clamp.ts), so that the noise follows from those bounds and not
 * from the catalogue's plausible range. The gateway deals the comparison material for
 * 2 · (1 or 2 indicators) · |cohort| · L comparisons (two a value: [x ≥ lo], [x ≥ hi]) and seals
 * each node's part to it; the nodes compare, clamp and sum among themselves
 * (usage-layer/node/clamped.ts) and return degree-t shares of the measures, which are opened here.
 * As with filters, the comparisons are three-party protocols: all three nodes take part, and a node
 * that fails fails the run (nothing is opened; the query service gives its ε back). With a cohort
 * filter the same run first decides each cohort patient's filter bit (the filter's comparisons lead
 * the same batch) and weighs every value's terms by it.
 */
import { randomUUID } from 'node:crypto';
import { aggregateSpec, clampedMeasures, measureScale, type Measure, type OpenedMeasures } from '../../mpc/aggregates';
import { clampPlan } from '../../mpc/clamp';
import { shareFromHex } from '../../mpc/codec';
import { comparisonPlan, STATISTICAL_BITS } from '../../mpc/compare';
import { filterLeaves } from '../../mpc/filters';
import { newFaults, openSigned } from '../../mpc/open';
import { dealCompareMaterial } from '../../mpc/preprocessing';
import type { ClampedRequest, ClampedResponse, ClampSpec, NoiseByMeasure } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import { askAll, sealedMaterialFor, threeNodesUp, threePartyResult } from './ask-all';
import { checkCapacity } from './capacity';
import type { CoordinatorContext } from './context';
import type { AggregateQuery, AggregateResult } from './types';
import { noiseMap } from './validate';

type Clamp = { x: ClampSpec; y?: ClampSpec };

const axesOf = (c: Clamp): ClampSpec[] => (c.y ? [c.x, c.y] : [c.x]);

/** The mask bits for the query's comparisons (the clamp's and the filter's): the widest value bits plus σ. */
function maskBitsOf(c: Clamp, filter: AggregateQuery['filter']): number {
  const leaves = filter ? filterLeaves(filter).map((l) => comparisonPlan(l.op, l.value, l.domain).valueBits) : [];
  return Math.max(...axesOf(c).map((a) => clampPlan(a).valueBits), ...leaves) + STATISTICAL_BITS;
}

function checkClampedQuery(q: AggregateQuery): { clamp: Clamp; perPatient: number; cohort: string[] } {
  const spec = aggregateSpec(q.aggregate);
  if (!spec.clamped) throw new ValidationError(`${q.aggregate} does not take declared bounds`, 'clamp');
  const clamp = q.clamp as Clamp;
  if ((spec.indicators === 2) !== Boolean(clamp.y)) throw new ValidationError(`${q.aggregate} needs bounds for ${spec.indicators === 2 ? 'both indicators' : 'its one indicator'}`, 'clamp');
  if (!q.cohort) throw new ValidationError('a clamped query needs its cohort (the material is dealt per cohort patient)', 'cohort');
  if (!q.perPatient) throw new ValidationError('a clamped query needs its contribution bound perPatient (the material is dealt per record)', 'perPatient');
  return { clamp, perPatient: q.perPatient, cohort: [...new Set(q.cohort)].sort() };
}

/** The requests, one per node: the same query with that node's sealed material. */
function clampedRequests(ctx: CoordinatorContext, q: AggregateQuery, c: ReturnType<typeof checkClampedQuery>, participants: number[]): ClampedRequest[] {
  const queryId = randomUUID();
  const maskBits = maskBitsOf(c.clamp, q.filter);
  // The filter's comparisons (one a leaf and cohort patient) first, then two a value, up to L a patient.
  const m = (q.filter ? filterLeaves(q.filter).length * c.cohort.length : 0) + 2 * axesOf(c.clamp).length * c.cohort.length * c.perPatient;
  const material = m > 0 ? dealCompareMaterial(m, maskBits) : null;
  const noise = noiseMap(q) as NoiseByMeasure<Measure> | null;
  return participants.map((id) => {
    return {
      queryId, indicator: q.indicator, indicator2: q.indicator2 ?? null, windowSeconds: q.indicator2 ? (q.pairWindowSeconds ?? 3600) : 0,
      from: q.from ?? null, to: q.to ?? null, cohort: c.cohort, perPatient: c.perPatient,
      ...(q.includePatientReported ? { includePatientReported: true } : {}),
      clamp: c.clamp,
      filter: q.filter ?? null,
      // A noised query computes only the measures its noise names: nothing leaves the nodes un-noised.
      measures: clampedMeasures(q.aggregate, noise ? Object.keys(noise) : null),
      maskBits,
      material: sealedMaterialFor(ctx, id, queryId, material),
      participants, noise, centre: q.centre ? { x: q.centre.x, ...(q.centre.y !== undefined ? { y: q.centre.y } : {}) } : null,
    };
  });
}

/** Opens the measures; without a count share (a noised kind that does not noise the count) `count` is 0 and unused. */
function openMeasures(q: AggregateQuery, t: number, answers: ClampedResponse[]): OpenedMeasures {
  const { scaleX, scaleY } = answers[0]!;
  const faults = newFaults();
  const open = (m: Measure) => openSigned(m, answers.map((a) => ({ x: a.node, y: shareFromHex(a.shares[m] as string) })), t, faults);
  const withCount = answers.every((a) => a.shares.count !== undefined);
  const opened: OpenedMeasures = { count: withCount ? open('count') : 0n, ...(q.centre ? { centre: q.centre } : {}) };
  const noise = noiseMap(q);
  for (const m of clampedMeasures(q.aggregate, noise ? Object.keys(noise) : null)) {
    (opened as Record<string, unknown>)[m] = { value: open(m), scale: measureScale(m, scaleX, scaleY ?? 0) };
  }
  // Three shares of degree 1: a wrong one is detected, not located (InconsistentSharesError is thrown).
  return opened;
}

export async function runClamped(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  const c = checkClampedQuery(q);
  const { h, bytes } = await threeNodesUp(ctx, `a clamped ${q.aggregate}`);
  const answers = await askAll(ctx, clampedRequests(ctx, q, c, h.up), bytes, {
    what: 'the clamped query',
    call: (client, r) => client.clamped(r),
    agreement: (a) => `${a.records}|${a.digest}|${a.scaleX}|${a.scaleY}`,
  });
  const first = answers[0]!;
  checkCapacity(q, first.records, first.scaleX, first.scaleY ?? 0);
  const opened = openMeasures(q, ctx.t, answers);
  // The count is public to the nodes; it is opened only noised (or when nothing is noised).
  return threePartyResult(q, { h, bytes, started }, opened, aggregateSpec(q.aggregate).finish(opened), answers.every((a) => a.shares.count !== undefined));
}
