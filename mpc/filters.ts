/**
 * Cohort filters as trees of predicates (pure): a leaf compares a patient's latest value of an
 * indicator with a public constant, and `and` / `or` combine children. The nodes compute every leaf's
 * bit as a shared value (mpc/compare.ts) and combine them in the field with the product protocol:
 * a ∧ b = a·b, a ∨ b = a + b − a·b. The tree itself is public (it is part of the query).
 */
import type { ComparisonOp } from './compare';

export interface FilterLeaf {
  indicator: string;
  op: ComparisonOp;
  value: number;
}

/** Anything a tree's leaves are: the nodes' FilterLeaf, or the API's form (usage-layer/queries/query-filter.ts). */
interface AnyLeaf {
  indicator: string;
}

export type FilterTree<L extends AnyLeaf = FilterLeaf> = L | { and: Array<FilterTree<L>> } | { or: Array<FilterTree<L>> };

export const isAnd = <L extends AnyLeaf>(t: FilterTree<L>): t is { and: Array<FilterTree<L>> } => 'and' in t;
export const isOr = <L extends AnyLeaf>(t: FilterTree<L>): t is { or: Array<FilterTree<L>> } => 'or' in t;

/** The leaves, depth first, left to right: the order in which every node lays out their bits. */
export function filterLeaves<L extends AnyLeaf>(t: FilterTree<L>): L[] {
  if (isAnd(t)) return t.and.flatMap((c) => filterLeaves(c));
  if (isOr(t)) return t.or.flatMap((c) => filterLeaves(c));
  return [t];
}

/** The distinct indicators a filter reads (consent must cover each). */
export function filterIndicators<L extends AnyLeaf>(t: FilterTree<L>): string[] {
  return [...new Set(filterLeaves(t).map((l) => l.indicator))];
}

/** The same tree with each leaf replaced by `f(leaf)` (a leaf or a subtree). */
export function mapLeaves<A extends AnyLeaf, B extends AnyLeaf>(t: FilterTree<A>, f: (leaf: A) => FilterTree<B>): FilterTree<B> {
  if (isAnd(t)) return { and: t.and.map((c) => mapLeaves(c, f)) };
  if (isOr(t)) return { or: t.or.map((c) => mapLeaves(c, f)) };
  return f(t);
}

/**
 * The bands of increasing edges as predicates, in order: below e_0, [e_j, e_{j+1}) for each pair, at
 * or above the last edge; `leaf(op, value)` builds a comparison. Every value lies in exactly one band.
 */
export function bandPredicates<L extends AnyLeaf>(edges: readonly number[], leaf: (op: '<' | '>=', value: number) => L): Array<FilterTree<L>> {
  const inner = edges.slice(1).map((hi, j): FilterTree<L> => ({ and: [leaf('>=', edges[j] as number), leaf('<', hi)] }));
  return [leaf('<', edges[0] as number), ...inner, leaf('>=', edges[edges.length - 1] as number)];
}

export interface BitAlgebra<V> {
  and(a: V, b: V): Promise<V>;
  or(a: V, b: V): Promise<V>;
}

/** Evaluates the tree over leaf values given in `filterLeaves` order, children one after the other. */
export async function evaluateFilter<L extends FilterLeaf, V>(t: FilterTree<L>, leafValues: readonly V[], ops: BitAlgebra<V>): Promise<V> {
  let next = 0;
  const walk = async (node: FilterTree<L>): Promise<V> => {
    if (!isAnd(node) && !isOr(node)) return leafValues[next++] as V;
    const children = isAnd(node) ? node.and : node.or;
    let acc = await walk(children[0] as FilterTree<L>);
    for (const c of children.slice(1)) acc = await (isAnd(node) ? ops.and(acc, await walk(c)) : ops.or(acc, await walk(c)));
    return acc;
  };
  return walk(t);
}
