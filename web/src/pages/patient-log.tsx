/** The access log in plain words: research queries with the ε they used, and care reads. */
import { request } from '../api';
import { ErrorNote, Section } from '../components';
import { useLoad } from '../hooks';
import { formatDate, formatDateTime, formatNumber, indicatorWords, type IndicatorInfo } from '../words';

interface QueryUse { queryId: string; study: string; studyTitle?: string; indicators: string[]; aggregate: string; status: string; time: string; ledgerSeq: number; epsilon: number }
interface CareUse { readId: string; reader: { org: string; user: string }; indicators: string[]; breakGlass: boolean; reason: string | null; records: number; time: string }
interface AccessLogBody { entries: QueryUse[]; careReads: CareUse[]; privacy: { spent: number; budget: number; periodStart: string | null } }

function queryWords(e: QueryUse, budget: number, catalogue: Map<string, IndicatorInfo>): string {
  const study = e.studyTitle ? `Study “${e.studyTitle}”` : `Study ${e.study}`;
  const outcome = e.status === 'suppressed' ? ' (the result was withheld: too few patients)' : '';
  return `${study} used your ${indicatorWords(e.indicators, catalogue)} on ${formatDate(e.time)} for a ${e.aggregate}${outcome}; ε ${formatNumber(e.epsilon)} of your ${formatNumber(budget)} used.`;
}

function careWords(r: CareUse, catalogue: Map<string, IndicatorInfo>): string {
  const what = r.indicators.length ? indicatorWords(r.indicators, catalogue) : 'granted indicators';
  const base = `${r.reader.org} (${r.reader.user}) read ${r.records} of your ${what} values on ${formatDateTime(r.time)}`;
  return r.breakGlass ? `${base} in an emergency, without a grant, giving the reason “${r.reason ?? ''}”.` : `${base} under your treatment grant.`;
}

export function AccessLog({ catalogue, version }: { catalogue: Map<string, IndicatorInfo>; version: number }) {
  const { data, error } = useLoad(() => request<AccessLogBody>('/patients/me/access-log'), [version]);
  const p = data?.privacy;
  return (
    <Section title="Who used your data" id="access">
      <ErrorNote message={error} />
      {p ? <p class="budget">Privacy budget: ε {formatNumber(p.spent)} of your {formatNumber(p.budget)} used{p.periodStart ? ` since ${formatDate(p.periodStart)}` : ''}. Each study query spends a little; when it is used up, you stop being counted until it renews.</p> : null}
      {data && data.entries.length + data.careReads.length === 0 ? <p>Nobody has used your data yet.</p> : null}
      <ul class="log">
        {(data?.entries ?? []).map((e) => <li key={e.queryId}>{queryWords(e, p?.budget ?? 0, catalogue)} <small>(ledger entry {e.ledgerSeq})</small></li>)}
        {(data?.careReads ?? []).map((r) => <li key={r.readId} class={r.breakGlass ? 'warn' : ''}>{careWords(r, catalogue)}</li>)}
      </ul>
    </Section>
  );
}
