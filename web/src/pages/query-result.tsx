/** A query's outcome: numbers with 95 % intervals, histogram bars or the correlation on its axis, the privacy spent, and suppressions explained. */
import { HistogramChart, IntervalChart } from '../chart';
import { TableRegion } from '../components';
import { formatNumber, indicatorWords, unitWords, type IndicatorInfo } from '../words';
import { filterWords, type QueryFilter } from './query-filter';

/** The API's groupBy: a demographic, or bands of an indicator's latest value. */
export type GroupBy = string | { indicator: string; edges: number[] };

/** A grouping in words: "administrative sex", "birth decade", "hba1c band". */
function groupingWords(g: GroupBy, catalogue: Map<string, IndicatorInfo>): string {
  if (typeof g === 'object') return `${indicatorWords([g.indicator], catalogue)} band`;
  return g === 'birth_decade' ? 'birth decade' : 'administrative sex';
}

export interface QueryView {
  id: string;
  study: string;
  indicators: string[];
  aggregate: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'suppressed' | 'refused';
  message: string | null;
  window: { from: string | null; to: string | null };
  options?: { includePatientReported?: boolean; filter?: QueryFilter | null; groupBy?: GroupBy; edges?: number[]; q?: number; bounds?: Record<string, { min: number; max: number }> | 'auto' } | null;
  submittedAt: string;
  result?: {
    value: number | null;
    interval?: [number, number] | null;
    records: number | null;
    contributors: number;
    nodesUsed: number[];
    nodesDown: number[];
    histogram?: { edges: number[]; counts: number[]; below: number; above: number } | null;
    bucketHalfWidth?: number | null;
    groups?: Array<{ group: string; suppressed: boolean; value: number | null; interval?: [number, number] | null; records: number | null }>;
    /** Automatic bounds: what the gateway derived and clamped into. */
    clampedTo?: Record<string, { min: number; max: number }>;
  } | null;
  privacy?: { epsilon: number; epsilonSpent: number; perPatient: number; parts: Array<{ measure: string; epsilon: number }> } | null;
}

const SETTLED_WORDS: Record<string, string> = {
  queued: 'Waiting for the compute nodes.',
  running: 'The compute nodes are computing on secret shares.',
  failed: 'The query failed; its ε was given back to the budget.',
  refused: 'The query was refused before it ran; nothing was spent.',
};

function Suppressed({ view }: { view: QueryView }) {
  return (
    <div class="notice" role="note">
      <p><strong>Result withheld.</strong> {view.message ?? 'Fewer patients contributed than the study’s minimum cohort.'}</p>
      <p>The decision is made on a noisy count of contributors, against the minimum cohort plus a margin, so that whether a result appears cannot reveal one patient. The ε was spent: the noisy count itself is a release.</p>
    </div>
  );
}

function Numbers({ view, unit }: { view: QueryView; unit: string }) {
  const r = view.result!;
  const interval = r.interval ? `${formatNumber(r.interval[0])} to ${formatNumber(r.interval[1])}` : '—';
  return (
    <dl class="numbers">
      {r.value !== null ? <><dt>{view.aggregate}</dt><dd><strong>{formatNumber(r.value)}</strong> {unit}</dd><dt>95 % interval</dt><dd>{interval}</dd></> : null}
      {r.records !== null ? <><dt>records (noisy)</dt><dd>{formatNumber(r.records, 0)}</dd></> : null}
      <dt>contributing patients (noisy)</dt><dd>{formatNumber(r.contributors, 0)}</dd>
      <dt>compute nodes</dt><dd>{r.nodesUsed.join(', ')}{r.nodesDown.length ? ` (down: ${r.nodesDown.join(', ')})` : ''}</dd>
      {view.privacy ? <><dt>ε spent</dt><dd>{formatNumber(view.privacy.epsilonSpent)} ({view.privacy.parts.map((p) => `${p.measure} ${formatNumber(p.epsilon)}`).join(', ')})</dd></> : null}
    </dl>
  );
}

function Histogram({ view, unit }: { view: QueryView; unit: string }) {
  const h = view.result!.histogram!;
  const labels = h.counts.map((_, i) => `${formatNumber(h.edges[i])}–${formatNumber(h.edges[i + 1])}`);
  return (
    <>
      <HistogramChart labels={labels} counts={h.counts} label={`Histogram of ${view.indicators[0]} in ${unit}; the table below lists the buckets`} />
      <TableRegion label="Histogram buckets">
        <table>
          <thead><tr><th scope="col">{unit || 'bucket'}</th><th scope="col">patients (noisy)</th></tr></thead>
          <tbody>{labels.map((l, i) => <tr key={l}><td>{l}</td><td>{formatNumber(h.counts[i], 1)} ± {formatNumber(view.result!.bucketHalfWidth ?? 0, 1)}</td></tr>)}</tbody>
        </table>
      </TableRegion>
    </>
  );
}

function Groups({ view, unit, catalogue }: { view: QueryView; unit: string; catalogue: Map<string, IndicatorInfo> }) {
  const groups = view.result!.groups!;
  const by = view.options?.groupBy ? groupingWords(view.options.groupBy, catalogue) : 'group';
  const iv = (i?: [number, number] | null) => (i ? `${formatNumber(i[0])} to ${formatNumber(i[1])}` : '—');
  return (
    <TableRegion label={`${view.aggregate} by ${by}`}>
      <table>
        <thead><tr><th scope="col">{by}</th><th scope="col">{view.aggregate}{unit ? ` (${unit})` : ''}</th><th scope="col">95 % interval</th><th scope="col">records (noisy)</th></tr></thead>
        <tbody>{groups.map((g) => g.suppressed
          ? <tr key={g.group}><td>{g.group}</td><td colSpan={3}>withheld: too few patients</td></tr>
          : <tr key={g.group}><td>{g.group}</td><td>{formatNumber(g.value)}</td><td>{iv(g.interval)}</td><td>{formatNumber(g.records, 0)}</td></tr>)}</tbody>
      </table>
    </TableRegion>
  );
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/** The aggregate in words: a quantile names its q, a grouped query its groups. */
function aggregateWords(view: QueryView, catalogue: Map<string, IndicatorInfo>): string {
  const o = view.options ?? {};
  const kind = view.aggregate === 'quantile' && o.q !== undefined ? `${ordinal(Math.round(o.q * 100))} percentile` : view.aggregate;
  return o.groupBy ? `${kind} by ${groupingWords(o.groupBy, catalogue)}` : kind;
}

/** What was asked, in words: the aggregate, whose records (the filter), declared bounds and which sources. */
export function queryWords(view: QueryView, catalogue: Map<string, IndicatorInfo>): string {
  const filter = view.options?.filter;
  const whose = filter ? `, over ${filterWords(filter, catalogue)}` : ', over every consenting patient';
  const asked = view.options?.bounds;
  const auto = asked === 'auto';
  const bounds = Object.entries((auto ? view.result?.clampedTo : asked) ?? {}).map(([name, b]) => `${indicatorWords([name], catalogue)} clamped into ${auto ? 'automatic bounds ' : ''}${formatNumber(b.min)} to ${formatNumber(b.max)}`);
  if (auto && bounds.length === 0) bounds.push('values clamped into automatic bounds');
  const sources = view.options?.includePatientReported ? 'providers’ records and patients’ own device readings' : 'providers’ records only';
  return `The ${aggregateWords(view, catalogue)} of ${indicatorWords(view.indicators, catalogue)}${whose}${bounds.length ? `, ${bounds.join(' and ')}` : ''}; ${sources}.`;
}

export function QueryResult({ view, catalogue }: { view: QueryView; catalogue: Map<string, IndicatorInfo> }) {
  return (
    <>
      <p class="asked">{queryWords(view, catalogue)}</p>
      <Outcome view={view} catalogue={catalogue} />
    </>
  );
}

function Outcome({ view, catalogue }: { view: QueryView; catalogue: Map<string, IndicatorInfo> }) {
  if (view.status === 'suppressed') return <Suppressed view={view} />;
  if (view.status !== 'done' || !view.result) return <p>{SETTLED_WORDS[view.status] ?? view.status} {view.message ?? ''}</p>;
  const info = catalogue.get(view.indicators[0] ?? '');
  const unit = ['mean', 'stddev', 'sum', 'median', 'quantile'].includes(view.aggregate) && info ? unitWords(info.canonicalUnit) : '';
  const r = view.result;
  return (
    <div class="result">
      <Numbers view={view} unit={unit} />
      {r.histogram ? <Histogram view={view} unit={info ? unitWords(info.canonicalUnit) : ''} /> : null}
      {r.groups ? <Groups view={view} unit={unit} catalogue={catalogue} /> : null}
      {view.aggregate === 'correlation' && r.value !== null && r.interval ? (
        <IntervalChart name="correlation" value={r.value} interval={r.interval} axis={[-1, 1]} label={`Correlation ${formatNumber(r.value)} with 95 % interval ${formatNumber(r.interval[0])} to ${formatNumber(r.interval[1])}`} />
      ) : null}
    </div>
  );
}
