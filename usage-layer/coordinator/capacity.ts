/**
 * The field's capacity, checked before anything is opened: an aggregate whose true value could leave
 * the signed range of the field would wrap around and decode to a wrong number (mpc/fixed-point.ts).
 * The record count is public to the nodes, so the check runs once they have answered; the bounds are
 * the query's public value bounds (the catalogue range). Without bounds there is nothing to check.
 */
import { aggregateSpec, type Measure } from '../../mpc/aggregates';
import { assertAggregateCapacity } from '../../mpc/fixed-point';
import type { AggregateQuery } from './types';

const DEGREE: Record<Measure, 1 | 2> = { count: 1, histogram: 1, sum: 1, sumX: 1, sumY: 1, sumSquares: 2, sumXX: 2, sumYY: 2, sumXY: 2 };

export function checkCapacity(q: AggregateQuery, count: number, scaleX: number, scaleY = 0): void {
  if (!q.bounds) return;
  const abs = (r?: { min: number; max: number }) => (r ? Math.max(Math.abs(r.min), Math.abs(r.max)) : 0);
  const maxAbs = Math.max(abs(q.bounds.x), abs(q.bounds.y));
  const scale = Math.max(scaleX, scaleY);
  for (const m of aggregateSpec(q.aggregate).measures) assertAggregateCapacity({ count, maxAbs, scale, degree: DEGREE[m] });
}
