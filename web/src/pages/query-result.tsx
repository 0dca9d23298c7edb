/** A query's outcome: numbers with 95 % intervals, histogram bars or the correlation on its axis, the privacy spent, and suppressions explained. */
import { HistogramChart, IntervalChart } from '../chart';
import { TableRegion } from '../components';
import { formatNumber, indicatorWords, unitWords, type IndicatorInfo } from '../words';
import { filterWords, type QueryFilter } from './query-filter';

export interface QueryView {
  id: string;
  study: string;
  indicators: string[];
  aggregate: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'suppressed' | 'refused';
  message: string | null;
  window: { from: string | null; to: string | null };
  options?: { includePatientReported?: boolean; filter?: QueryFilter | null } | null;
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

/** What was asked, in words: the aggregate, whose records (the filter) and which sources. */
export function queryWords(view: QueryView, catalogue: Map<string, IndicatorInfo>): string {
  const filter = view.options?.filter;
  const whose = filter ? `, over ${filterWords(filter, catalogue)}` : ', over every consenting patient';
  const sources = view.options?.includePatientReported ? 'providers’ records and patients’ own device readings' : 'providers’ records only';
  return `The ${view.aggregate} of ${indicatorWords(view.indicators, catalogue)}${whose}; ${sources}.`;
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
  const unit = ['mean', 'stddev', 'sum'].includes(view.aggregate) && info ? unitWords(info.canonicalUnit) : '';
  const r = view.result;
  return (
    <div class="result">
      <Numbers view={view} unit={unit} />
      {r.histogram ? <Histogram view={view} unit={info ? unitWords(info.canonicalUnit) : ''} /> : null}
      {view.aggregate === 'correlation' && r.value !== null && r.interval ? (
        <IntervalChart name="correlation" value={r.value} interval={r.interval} axis={[-1, 1]} label={`Correlation ${formatNumber(r.value)} with 95 % interval ${formatNumber(r.interval[0])} to ${formatNumber(r.interval[1])}`} />
      ) : null}
    </div>
  );
}
