/**
 * A compute node's share store: idempotent batch inserts and the SQL aggregations. Sums of shares are
 * computed in SQL (`numeric` is exact) and reduced modulo P here; a node never sees a value.
 */
import { hash } from 'node:crypto';
import type { Knex } from 'knex';
import { aggregateFromNumeric, shareToNumeric } from '../../mpc/codec';
import { sumRescaled } from '../../mpc/rescale';
import type { RecordFilter, ShareBatchItem } from '../../parties/wire';
import type { Database } from '../../storage-layer/db';
import { textArray } from '../sql';

/** A record as the node stores it: its wire metadata (parties/wire.ts) and this node's shares. */
export interface ShareRow extends Omit<ShareBatchItem, 'hist'> {
  share: bigint;
  square: bigint;
}

export interface StoreResult {
  inserted: number;
  replaced: number;
  unchanged: number;
}

/** 48-bit hash of (record id, dealing): a digest term that differs when a node holds another dealing. */
export function recordHash(recordId: string, dealing: string): number {
  return hash('sha256', `${recordId}\n${dealing}`, 'buffer').readUIntBE(0, 6); // one-shot: no Hash object a record
}

/** Rows a statement: a whole default batch (2000 records) in one INSERT, a 10^4-record batch in five. */
const ROWS_PER_STATEMENT = 2000;

/** A text[] literal whose null entries are SQL NULLs. */
function nullableTextArray(values: ReadonlyArray<string | null>): string {
  return `{${values.map((v) => (v === null ? 'NULL' : textArray([v]).slice(1, -1))).join(',')}}`;
}

/** A numeric[] literal of shares (decimal digits only, so nothing to quote). */
const numericArray = (shares: readonly bigint[]): string => `{${shares.map(shareToNumeric).join(',')}}`;

/** Rows of one INSERT … ON CONFLICT: written (inserted, or replaced by a newer dealing) and, of those, inserted. */
interface Written {
  written: number;
  inserted: number;
}

/**
 * One statement for a chunk of rows: every column bound as ONE array and unnested in SQL (eleven
 * bindings, not eleven a row: knex and the driver handle a few long strings much faster than thousands
 * of placeholders). Answers with one row of counts rather than a row per record for the driver to parse.
 */
async function insertShares(trx: Knex.Transaction, dealing: string, chunk: readonly ShareRow[]): Promise<Written> {
  const col = <T>(f: (r: ShareRow) => T): T[] => chunk.map(f);
  const res = await trx.raw(
    `WITH w AS (
     INSERT INTO node_shares (record_id, pseudonym, indicator, effective_start, effective_end, scale, dealing, rid_hash, share, square, source)
     SELECT u.record_id, u.pseudonym, u.indicator, u.effective_start, u.effective_end, u.scale, ?::bigint, u.rid_hash, u.share, u.square, u.source
     FROM unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::smallint[], ?::bigint[], ?::numeric(39, 0)[], ?::numeric(39, 0)[], ?::text[])
       AS u(record_id, pseudonym, indicator, effective_start, effective_end, scale, rid_hash, share, square, source)
     ON CONFLICT (record_id) DO UPDATE SET pseudonym = EXCLUDED.pseudonym, indicator = EXCLUDED.indicator, source = EXCLUDED.source,
       effective_start = EXCLUDED.effective_start, effective_end = EXCLUDED.effective_end, scale = EXCLUDED.scale,
       dealing = EXCLUDED.dealing, rid_hash = EXCLUDED.rid_hash, share = EXCLUDED.share, square = EXCLUDED.square
     WHERE node_shares.dealing < EXCLUDED.dealing
     RETURNING (xmax = 0) AS inserted)
     SELECT count(*) AS written, count(*) FILTER (WHERE inserted) AS inserted FROM w`,
    [
      dealing,
      textArray(col((r) => r.recordId)), textArray(col((r) => r.pseudonym)), textArray(col((r) => r.indicator)),
      textArray(col((r) => r.effectiveStart)), nullableTextArray(col((r) => r.effectiveEnd)), `{${col((r) => r.scale).join(',')}}`,
      `{${col((r) => recordHash(r.recordId, dealing)).join(',')}}`, numericArray(col((r) => r.share)), numericArray(col((r) => r.square)),
      textArray(col((r) => r.source ?? 'provider')),
    ],
  );
  const row = (res.rows ?? [])[0] as { written: number | string; inserted: number | string };
  return { written: Number(row.written), inserted: Number(row.inserted) };
}

export async function storeShareRows(db: Database, dealing: string, rows: ShareRow[]): Promise<StoreResult> {
  const result: StoreResult = { inserted: 0, replaced: 0, unchanged: 0 };
  await db.knex.transaction(async (trx) => {
    const scales = new Map<string, [string, number]>();
    for (const r of rows) scales.set(`${r.indicator}\u0000${r.scale}`, [r.indicator, r.scale]);
    for (const [indicator, scale] of scales.values()) {
      await trx.raw('INSERT INTO node_indicator_scales (indicator, scale) VALUES (?, ?) ON CONFLICT DO NOTHING', [indicator, scale]);
    }
    for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
      const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
      const { written, inserted } = await insertShares(trx, dealing, chunk);
      result.inserted += inserted;
      result.replaced += written - inserted;
      result.unchanged += chunk.length - written;
    }
  });
  return result;
}

/** Leaves out patient-reported records (selected before the contribution bound and the pairing). */
const providerOnly = (alias: string) => `${alias}.source = 'provider'`;

function where(f: RecordFilter, alias: string): { sql: string; bindings: Knex.RawBinding[] } {
  const parts = [`${alias}.indicator = ?`];
  const bindings: Knex.RawBinding[] = [f.indicator];
  if (f.from) {
    parts.push(`${alias}.effective_start >= ?::timestamptz`);
    bindings.push(f.from);
  }
  if (f.to) {
    parts.push(`${alias}.effective_start < ?::timestamptz`);
    bindings.push(f.to);
  }
  if (f.cohort) {
    parts.push(`${alias}.pseudonym = ANY(?::text[])`);
    bindings.push(textArray(f.cohort));
  }
  if (!f.includePatientReported) parts.push(providerOnly(alias));
  return { sql: parts.join(' AND '), bindings };
}

/**
 * The selected records as a FROM item aliased `s`: the filter, and with a contribution bound L only
 * each patient's latest L records (ties: the smaller record id). Every node ranks the same metadata.
 */
function selection(f: RecordFilter): { from: string; bindings: Knex.RawBinding[] } {
  const w = where(f, 's0');
  if (!f.perPatient) return { from: `(SELECT s0.* FROM node_shares s0 WHERE ${w.sql}) s`, bindings: w.bindings };
  return {
    from: `(SELECT * FROM (SELECT s0.*, row_number() OVER (PARTITION BY s0.pseudonym ORDER BY s0.effective_start DESC, s0.record_id) AS rk
             FROM node_shares s0 WHERE ${w.sql}) ranked WHERE ranked.rk <= ?) s`,
    bindings: [...w.bindings, f.perPatient],
  };
}

export interface LinearLocal {
  count: number;
  digest: string;
  scale: number | null;
  sum: bigint;
  sumSquares: bigint;
}

/**
 * Σ shares (and Σ square shares) over the matching records, one SQL query. Records of different scales
 * are brought to the largest scale by multiplying with 10^Δ (public), so the result is one sharing.
 */
export async function linearAggregate(db: Database, f: RecordFilter, withSquares: boolean): Promise<LinearLocal> {
  const w = selection(f);
  const columns = `count(*) AS n, sum(s.rid_hash)::text AS digest, sum(s.share)::text AS total${withSquares ? ', sum(s.square)::text AS squares' : ''}`;
  type Group = { scale: number; n: number | string; digest: string; total: string; squares?: string };
  // The indicator's scales come from a small registry; a single-scale indicator (the usual case) needs one
  // ungrouped pass, several scales a GROUP BY.
  const registered = ((await db.knex.raw('SELECT scale FROM node_indicator_scales WHERE indicator = ?', [f.indicator])).rows ?? []) as Array<{ scale: number }>;
  let groups: Group[] = [];
  if (registered.length === 1) {
    const row = ((await db.knex.raw(`SELECT ${columns} FROM ${w.from}`, w.bindings)).rows ?? [])[0] as Group;
    if (Number(row.n) > 0) groups = [{ ...row, scale: Number((registered[0] as { scale: number }).scale) }];
  } else if (registered.length > 1) {
    groups = ((await db.knex.raw(`SELECT s.scale AS scale, ${columns} FROM ${w.from} GROUP BY s.scale`, w.bindings)).rows ?? []) as Group[];
  }
  // Records of lower scales are brought to the largest (mpc/rescale.ts): one sharing.
  const scale = groups.length ? Math.max(...groups.map((g) => Number(g.scale))) : null;
  const up = (g: Group) => (scale as number) - Number(g.scale);
  return {
    count: groups.reduce((acc, g) => acc + Number(g.n), 0),
    digest: groups.reduce((acc, g) => acc + BigInt(g.digest), 0n).toString(),
    scale,
    sum: sumRescaled(groups.map((g) => ({ share: aggregateFromNumeric(g.total), by: up(g) }))),
    sumSquares: withSquares ? sumRescaled(groups.map((g) => ({ share: aggregateFromNumeric(g.squares ?? null), by: 2 * up(g) }))) : 0n,
  };
}

export interface PairLocal {
  pairs: number;
  digest: string;
  scaleX: number | null;
  scaleY: number | null;
  sumX: bigint;
  sumY: bigint;
  sumXX: bigint;
  sumYY: bigint;
  /** DEGREE-2t share of Σ x·y: must go through the product protocol, never out of the node as is. */
  sumXY2t: bigint;
}

interface Candidate {
  a: string;
  b: string;
  pseudonym: string;
  /** |Δt| in seconds, and the first record's time (for "latest"). */
  d: number;
  ta: number;
}

/** Every (x record, y record) of one patient within ± windowSeconds: metadata only. */
async function pairCandidates(db: Database, f: RecordFilter, indicator2: string, windowSeconds: number): Promise<Candidate[]> {
  const w = where(f, 'a');
  const res = await db.knex.raw(
    `SELECT a.record_id AS a, b.record_id AS b, a.pseudonym AS pseudonym,
            abs(extract(epoch FROM (b.effective_start - a.effective_start)))::float8 AS d,
            extract(epoch FROM a.effective_start)::float8 AS ta
     FROM node_shares a JOIN node_shares b
       ON b.indicator = ? AND b.pseudonym = a.pseudonym
      AND b.effective_start >= a.effective_start - make_interval(secs => ?)
      AND b.effective_start <= a.effective_start + make_interval(secs => ?)${f.includePatientReported ? '' : ` AND ${providerOnly('b')}`}
     WHERE ${w.sql}`,
    [indicator2, windowSeconds, windowSeconds, ...w.bindings],
  );
  return ((res.rows ?? []) as Array<{ a: string; b: string; pseudonym: string; d: number | string; ta: number | string }>).map((r) => ({ ...r, d: Number(r.d), ta: Number(r.ta) }));
}

const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/**
 * One-to-one pairing: per patient, candidates by increasing |Δt| (ties: record ids), each record in at
 * most one pair (greedy nearest); then with a bound L only the patient's latest L pairs. Deterministic
 * from metadata, so every node pairs alike.
 */
export function pairOneToOne(candidates: readonly Candidate[], perPatient: number | null | undefined): Array<{ a: string; b: string }> {
  const byPatient = new Map<string, Candidate[]>();
  for (const c of candidates) byPatient.set(c.pseudonym, [...(byPatient.get(c.pseudonym) ?? []), c]);
  const out: Array<{ a: string; b: string }> = [];
  for (const list of byPatient.values()) {
    list.sort((p, q) => p.d - q.d || byText(p.a, q.a) || byText(p.b, q.b));
    const usedA = new Set<string>();
    const usedB = new Set<string>();
    const chosen: Candidate[] = [];
    for (const c of list) {
      if (usedA.has(c.a) || usedB.has(c.b)) continue;
      usedA.add(c.a);
      usedB.add(c.b);
      chosen.push(c);
    }
    chosen.sort((p, q) => q.ta - p.ta || byText(p.a, q.a));
    for (const c of perPatient ? chosen.slice(0, perPatient) : chosen) out.push({ a: c.a, b: c.b });
  }
  return out;
}

/**
 * Pairs records of `f.indicator` (filtered) with records of `indicator2` of the same pseudonym within
 * ± windowSeconds, one to one (pairOneToOne), and sums the shares over the pairs. Σ x·y is a sum of
 * local products of shares, i.e. a degree-2t sharing.
 */
export async function pairAggregate(db: Database, f: RecordFilter, indicator2: string, windowSeconds: number): Promise<PairLocal> {
  const pairs = pairOneToOne(await pairCandidates(db, f, indicator2, windowSeconds), f.perPatient);
  const res = await db.knex.raw(
    `WITH p AS (SELECT * FROM unnest(?::text[], ?::text[]) AS p(a, b))
     SELECT a.scale AS sx, b.scale AS sy, count(*) AS n,
            sum(a.rid_hash)::text AS da, sum(b.rid_hash)::text AS db,
            sum(a.share)::text AS x, sum(b.share)::text AS y,
            sum(a.square)::text AS xx, sum(b.square)::text AS yy,
            sum(a.share * b.share)::text AS xy
     FROM p JOIN node_shares a ON a.record_id = p.a JOIN node_shares b ON b.record_id = p.b
     GROUP BY a.scale, b.scale`,
    [textArray(pairs.map((p) => p.a)), textArray(pairs.map((p) => p.b))],
  );
  type Group = { sx: number; sy: number; n: number | string; da: string; db: string; x: string; y: string; xx: string; yy: string; xy: string };
  const groups = (res.rows ?? []) as Group[];
  const scaleX = groups.length ? Math.max(...groups.map((g) => Number(g.sx))) : null;
  const scaleY = groups.length ? Math.max(...groups.map((g) => Number(g.sy))) : null;
  const dx = (g: Group) => (scaleX as number) - Number(g.sx);
  const dy = (g: Group) => (scaleY as number) - Number(g.sy);
  const total = (pick: (g: Group) => string, by: (g: Group) => number) => sumRescaled(groups.map((g) => ({ share: aggregateFromNumeric(pick(g)), by: by(g) })));
  const digestOf = (pick: (g: Group) => string) => groups.reduce((acc, g) => acc + BigInt(pick(g)), 0n);
  return {
    pairs: groups.reduce((acc, g) => acc + Number(g.n), 0),
    digest: `${digestOf((g) => g.da)}:${digestOf((g) => g.db)}`,
    scaleX,
    scaleY,
    sumX: total((g) => g.x, dx),
    sumY: total((g) => g.y, dy),
    sumXX: total((g) => g.xx, (g) => 2 * dx(g)),
    sumYY: total((g) => g.yy, (g) => 2 * dy(g)),
    sumXY2t: total((g) => g.xy, (g) => dx(g) + dy(g)),
  };
}

/** One patient's latest share of an indicator in the window (ties: the smaller record id). */
export interface LatestShare {
  share: bigint;
  scale: number;
}

/** Every cohort patient's latest record of `f.indicator` in the window: the input of a filter leaf. */
export async function latestShares(db: Database, f: RecordFilter): Promise<Map<string, LatestShare>> {
  const w = selection({ ...f, perPatient: 1 });
  const res = await db.knex.raw(`SELECT s.pseudonym AS p, s.share::text AS share, s.scale AS scale FROM ${w.from}`, w.bindings);
  const rows = (res.rows ?? []) as Array<{ p: string; share: string; scale: number | string }>;
  return new Map(rows.map((r) => [r.p, { share: aggregateFromNumeric(r.share), scale: Number(r.scale) }]));
}

/** One patient's records in a filtered query: their number and the sums of their shares (and squares). */
export interface PatientSums {
  n: number;
  sum: bigint;
  sumSquares: bigint;
}

export interface PatientSumsLocal {
  records: number;
  digest: string;
  scale: number | null;
  byPatient: Map<string, PatientSums>;
}

/**
 * Per patient Σ shares over the selected records (the contribution bound applies), at the largest
 * scale. Only the sums asked for are read (a count needs none); with L = 1 (the default bound) each
 * patient has one row and nothing is grouped.
 */
export async function patientSums(db: Database, f: RecordFilter, want: { sum: boolean; squares: boolean }): Promise<PatientSumsLocal> {
  const w = selection(f);
  const one = f.perPatient === 1;
  const agg = (col: string) => (one ? `s.${col}::text` : `sum(s.${col})::text`);
  const columns = [`s.pseudonym AS p`, `s.scale AS scale`, one ? '1 AS n' : 'count(*) AS n', `${agg('rid_hash')} AS digest`, ...(want.sum ? [`${agg('share')} AS total`] : []), ...(want.squares ? [`${agg('square')} AS squares`] : [])];
  const res = await db.knex.raw(`SELECT ${columns.join(', ')} FROM ${w.from}${one ? '' : ' GROUP BY s.pseudonym, s.scale'}`, w.bindings);
  const rows = (res.rows ?? []) as Array<{ p: string; scale: number | string; n: number | string; digest: string; total?: string; squares?: string }>;
  const scale = rows.length ? Math.max(...rows.map((r) => Number(r.scale))) : null;
  const byPatient = new Map<string, PatientSums>();
  for (const r of rows) {
    const by = (scale as number) - Number(r.scale);
    const prev = byPatient.get(r.p) ?? { n: 0, sum: 0n, sumSquares: 0n };
    byPatient.set(r.p, {
      n: prev.n + Number(r.n),
      sum: want.sum ? sumRescaled([{ share: prev.sum, by: 0 }, { share: aggregateFromNumeric(r.total ?? null), by }]) : 0n,
      sumSquares: want.squares ? sumRescaled([{ share: prev.sumSquares, by: 0 }, { share: aggregateFromNumeric(r.squares ?? null), by: 2 * by }]) : 0n,
    });
  }
  return {
    records: rows.reduce((acc, r) => acc + Number(r.n), 0),
    digest: rows.reduce((acc, r) => acc + BigInt(r.digest), 0n).toString(),
    scale,
    byPatient,
  };
}

/** One selected value: this node's share of it and the scale it is stored at. */
export type ValueShare = LatestShare;

/** The values of a clamped query, in an order every node shares (record ids). */
export interface ValuesLocal {
  records: number;
  digest: string;
  x: ValueShare[];
  /** The paired values of the second indicator (same order), or null for one indicator. */
  y: ValueShare[] | null;
  /** Each value's (pair's) patient, same order. */
  patients: string[];
}

type ShareText = { id: string; share: string; scale: number | string; h: string | number; pseudonym: string };
const valueOf = (r: ShareText): ValueShare => ({ share: aggregateFromNumeric(r.share), scale: Number(r.scale) });
const digestOf = (rows: readonly ShareText[]) => rows.reduce((acc, r) => acc + BigInt(r.h), 0n).toString();

/** The selected records' shares one by one (the contribution bound applies), by record id. */
export async function selectedValues(db: Database, f: RecordFilter): Promise<ValuesLocal> {
  const w = selection(f);
  const res = await db.knex.raw(`SELECT s.record_id AS id, s.share::text AS share, s.scale AS scale, s.rid_hash AS h, s.pseudonym AS pseudonym FROM ${w.from} ORDER BY s.record_id`, w.bindings);
  const rows = (res.rows ?? []) as ShareText[];
  return { records: rows.length, digest: digestOf(rows), x: rows.map(valueOf), y: null, patients: rows.map((r) => r.pseudonym) };
}

/** The one-to-one pairs' shares (pairOneToOne), by the first record's id. */
export async function pairedValues(db: Database, f: RecordFilter, indicator2: string, windowSeconds: number): Promise<ValuesLocal> {
  const pairs = pairOneToOne(await pairCandidates(db, f, indicator2, windowSeconds), f.perPatient).sort((p, q) => byText(p.a, q.a));
  const res = await db.knex.raw(
    'SELECT record_id AS id, share::text AS share, scale, rid_hash AS h, pseudonym FROM node_shares WHERE record_id = ANY(?::text[])',
    [textArray(pairs.flatMap((p) => [p.a, p.b]))],
  );
  const byId = new Map(((res.rows ?? []) as ShareText[]).map((r) => [r.id, r]));
  const row = (id: string) => byId.get(id) as ShareText;
  const a = pairs.map((p) => row(p.a));
  const b = pairs.map((p) => row(p.b));
  return { records: pairs.length, digest: `${digestOf(a)}:${digestOf(b)}`, x: a.map(valueOf), y: b.map(valueOf), patients: a.map((r) => r.pseudonym) };
}
