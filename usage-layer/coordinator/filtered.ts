/**
 * Filtered aggregates: a linear kind (count, sum, mean, variance, stddev) over the cohort patients whose
 * latest values satisfy a filter (mpc/filters.ts). The gateway is the dealer: it deals the comparison
 * material (mpc/preprocessing.ts) for |leaves| × |cohort| comparisons and seals each node's part to
 * that node (parties/compare-material.ts); the nodes compare, combine and multiply among themselves
 * (usage-layer/node/filtered.ts) and return degree-t shares of the measures, which are opened here.
 * The dealer knows every mask r and bit s, so what the nodes open with them (c = y + r, e = b ⊕ s)
 * never comes back here. The comparisons are replicated three-party protocols: all three nodes take
 * part (n = 3, t = 1), and a node that fails fails the run (nothing is opened; the query service gives
 * its ε back).
 */
import { randomUUID } from 'node:crypto';
import { aggregateSpec, queriedMeasures, type LinearMeasure, type OpenedMeasures } from '../../mpc/aggregates';
import { shareFromHex } from '../../mpc/codec';
import { comparisonPlan, STATISTICAL_BITS } from '../../mpc/compare';
import { filterLeaves } from '../../mpc/filters';
import { newFaults, openSigned } from '../../mpc/open';
import { dealCompareMaterial } from '../../mpc/preprocessing';
import type { FilteredRequest, FilteredResponse, NoiseByMeasure } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import { askAll, sealedMaterialFor, threeNodesUp, threePartyResult } from './ask-all';
import { checkCapacity } from './capacity';
import type { CoordinatorContext } from './context';
import type { AggregateQuery, AggregateResult, ByteCounts } from './types';
import { noiseMap } from './validate';

/** The mask bits for the filter's leaves: the widest value plus σ. */
function maskBitsOf(q: AggregateQuery): number {
  const leaves = filterLeaves(q.filter!);
  return Math.max(...leaves.map((l) => comparisonPlan(l.op, l.value, l.domain).valueBits)) + STATISTICAL_BITS;
}

/** The requests, one per node: the same query with that node's sealed material. */
function filteredRequests(ctx: CoordinatorContext, q: AggregateQuery, cohort: string[], participants: number[]): FilteredRequest[] {
  const queryId = randomUUID();
  const maskBits = maskBitsOf(q);
  const m = filterLeaves(q.filter!).length * cohort.length;
  const material = m > 0 ? dealCompareMaterial(m, maskBits) : null;
  const noise = noiseMap(q) as NoiseByMeasure<LinearMeasure> | null;
  return participants.map((id) => {
    return {
      queryId, indicator: q.indicator, from: q.from ?? null, to: q.to ?? null, cohort, perPatient: q.perPatient ?? null,
      ...(q.includePatientReported ? { includePatientReported: true } : {}),
      // A noised query computes only the measures its noise names: nothing leaves the nodes un-noised.
      measures: queriedMeasures(q.aggregate, noise ? Object.keys(noise) : null) as LinearMeasure[],
      filter: q.filter!, maskBits,
      material: sealedMaterialFor(ctx, id, queryId, material),
      participants, noise, centre: q.centre ? { x: q.centre.x } : null,
    };
  });
}

function askFiltered(ctx: CoordinatorContext, reqs: FilteredRequest[], bytes: ByteCounts): Promise<FilteredResponse[]> {
  return askAll(ctx, reqs, bytes, { what: 'the filtered query', call: (client, r) => client.filtered(r), agreement: (a) => `${a.records}|${a.digest}|${a.scale}` });
}

/** Opens the measures; without a count share (a noised kind that does not noise the count) `count` is 0 and unused. */
function openMeasures(q: AggregateQuery, t: number, answers: FilteredResponse[]): OpenedMeasures {
  const scale = answers[0]!.scale ?? 0;
  const faults = newFaults();
  const open = (name: string, pick: (a: FilteredResponse) => string | undefined) => openSigned(name, answers.map((a) => ({ x: a.node, y: shareFromHex(pick(a) as string) })), t, faults);
  const withCount = answers.every((a) => a.countShare !== undefined);
  const opened: OpenedMeasures = { count: withCount ? open('count', (a) => a.countShare) : 0n, ...(q.centre ? { centre: q.centre } : {}) };
  const noise = noiseMap(q);
  for (const m of queriedMeasures(q.aggregate, noise ? Object.keys(noise) : null)) {
    if (m === 'sum') opened.sum = { value: open('sum', (a) => a.sum), scale };
    if (m === 'sumSquares') opened.sumSquares = { value: open('sumSquares', (a) => a.sumSquares), scale: 2 * scale };
  }
  // Three shares of degree 1: a wrong one is detected, not located (InconsistentSharesError is thrown).
  return opened;
}

export async function runFiltered(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  if (!aggregateSpec(q.aggregate).filterable) throw new ValidationError(`${q.aggregate} does not take a filter`, 'filter');
  if (!q.cohort) throw new ValidationError('a filtered query needs its cohort (the material is dealt per cohort patient)', 'cohort');
  const { h, bytes } = await threeNodesUp(ctx, `a filtered ${q.aggregate}`);
  const cohort = [...new Set(q.cohort)].sort();
  const answers = await askFiltered(ctx, filteredRequests(ctx, q, cohort, h.up), bytes);
  const first = answers[0]!;
  checkCapacity(q, first.records, first.scale ?? 0);
  const opened = openMeasures(q, ctx.t, answers);
  // The filtered count is known to no node: opened from shares, noisy when noised, never exact next to noise.
  return threePartyResult(q, { h, bytes, started }, opened, aggregateSpec(q.aggregate).finish(opened), answers.every((a) => a.countShare !== undefined));
}
