/**
 * The researcher's page: choose a study, indicators, an aggregate, a window and options; run the
 * query (POST /queries) and follow its status (GET /queries/:id); see the numbers with their
 * intervals, the plots, the budget left and why a result was withheld.
 */
import { useEffect, useState } from 'preact/hooks';
import { messageOf, request } from '../api';
import { ErrorNote, Field, Section, StatusNote, TableRegion } from '../components';
import { useCatalogue, useLoad } from '../hooks';
import { formatDateTime, formatNumber, type IndicatorInfo } from '../words';
import type { Claims } from '../session';
import { QueryResult, type QueryView } from './query-result';
import { FilterBuilder, filterOf, type FilterDraft, type QueryFilter } from './query-filter';
import { AggregateOptions, extraOptions } from './query-options';

interface StudyBudget { id: string; title: string; minCohort: number; epsilonBudget: number; epsilonSpent: number; epsilonRemaining: number }
const AGGREGATES = ['count', 'sum', 'mean', 'variance', 'stddev', 'histogram', 'median', 'quantile', 'covariance', 'correlation'];
const PAIRED = new Set(['covariance', 'correlation']);

function StudyBudgetNote({ studyId, version }: { studyId: string; version: number }) {
  const { data, error } = useLoad(() => (studyId ? request<StudyBudget>(`/studies/${encodeURIComponent(studyId)}`) : Promise.resolve(null)), [studyId, version]);
  if (error) return <ErrorNote message={error} />;
  if (!data) return null;
  return <p class="budget">Budget left in “{data.title}”: ε {formatNumber(data.epsilonRemaining)} of {formatNumber(data.epsilonBudget)}. Results need at least {data.minCohort} contributing patients.</p>;
}

function queryBody(form: FormData, filter: QueryFilter | null): Record<string, unknown> {
  const aggregate = String(form.get('aggregate'));
  const indicators = [String(form.get('indicator'))];
  if (PAIRED.has(aggregate)) indicators.push(String(form.get('indicator2')));
  const day = (name: string, end: boolean) => {
    const v = String(form.get(name) ?? '');
    return v ? new Date(`${v}T00:00:00Z`).getTime() + (end ? 86_400_000 : 0) : null;
  };
  const from = day('from', false);
  const to = day('to', true);
  const extra = extraOptions(form, aggregate, indicators);
  const options: Record<string, unknown> = extra.options;
  if (form.get('epsilon')) options.epsilon = Number(form.get('epsilon'));
  if (form.get('perPatient')) options.perPatient = Number(form.get('perPatient'));
  if (form.get('includePatientReported')) options.includePatientReported = true;
  const window = { ...(from !== null ? { from: new Date(from).toISOString() } : {}), ...(to !== null ? { to: new Date(to).toISOString() } : {}) };
  return { study: form.get('study'), indicators, aggregate, ...window, ...(filter ? { filter } : {}), ...(extra.groupBy ? { groupBy: extra.groupBy } : {}), options };
}

function QueryForm({ studies, catalogue, onStudy, onSubmitted }: { studies: Array<{ id: string; title: string }>; catalogue: Map<string, IndicatorInfo>; onStudy: (id: string) => void; onSubmitted: (id: string) => void }) {
  const [aggregate, setAggregate] = useState('count');
  const [draft, setDraft] = useState<FilterDraft>({ join: 'and', leaves: [] });
  const [error, setError] = useState<string | null>(null);
  const indicators = [...catalogue.values()];
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await request<{ id: string }>('/queries', { json: queryBody(new FormData(e.currentTarget as HTMLFormElement), filterOf(draft, catalogue)) });
      setError(null);
      onSubmitted(r.id);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const options = indicators.map((i) => <option key={i.name} value={i.name}>{i.display}{i.canonicalUnit ? ` (${i.canonicalUnit})` : ''}</option>);
  return (
    <form onSubmit={submit} class="query-form">
      <Field label="Study">{(id) => (
        <select id={id} name="study" required onChange={(e) => onStudy((e.currentTarget as HTMLSelectElement).value)}>
          {studies.map((s) => <option key={s.id} value={s.id}>{s.title} ({s.id})</option>)}
        </select>
      )}</Field>
      <Field label="Aggregate">{(id) => (
        <select id={id} name="aggregate" value={aggregate} onChange={(e) => setAggregate((e.currentTarget as HTMLSelectElement).value)}>
          {AGGREGATES.map((a) => <option key={a} value={a}>{a}</option>)}
        </select>
      )}</Field>
      <Field label={PAIRED.has(aggregate) ? 'First indicator' : 'Indicator'}>{(id) => <select id={id} name="indicator">{options}</select>}</Field>
      {PAIRED.has(aggregate) ? <Field label="Second indicator">{(id) => <select id={id} name="indicator2">{options}</select>}</Field> : null}
      <Field label="From (day, UTC)" hint="Windows are widened to whole UTC days.">{(id, hint) => <input id={id} name="from" type="date" aria-describedby={hint} />}</Field>
      <Field label="To (day, UTC, included)">{(id) => <input id={id} name="to" type="date" />}</Field>
      <Field label="ε for this query" hint="Empty: the gateway's default. Larger ε: less noise, more budget spent.">{(id, hint) => <input id={id} name="epsilon" type="number" step="any" min="0" aria-describedby={hint} />}</Field>
      <Field label="Records per patient (at most)" hint="Empty: the study's limit.">{(id, hint) => <input id={id} name="perPatient" type="number" min="1" step="1" aria-describedby={hint} />}</Field>
      <AggregateOptions aggregate={aggregate} paired={PAIRED.has(aggregate)} indicatorOptions={options} />
      <p class="field check"><label><input name="includePatientReported" type="checkbox" /> Include patients’ own device readings (off: providers’ records only)</label></p>
      <FilterBuilder draft={draft} catalogue={catalogue} onChange={setDraft} />
      <ErrorNote message={error} />
      <button type="submit">Run query</button>
    </form>
  );
}

/** Polls the query until it leaves queued/running. */
function useQuery(id: string | null, onSettled: () => void): { view: QueryView | null; error: string | null } {
  const [view, setView] = useState<QueryView | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!id) return;
    let live = true;
    setView(null);
    const poll = async () => {
      try {
        const v = await request<QueryView>(`/queries/${id}`);
        if (!live) return;
        setView(v);
        if (v.status === 'queued' || v.status === 'running') setTimeout(poll, 300);
        else onSettled();
      } catch (err) {
        if (live) setError(messageOf(err));
      }
    };
    void poll();
    return () => { live = false; };
    // onSettled is a fresh closure each render; the poll belongs to the query id.
  }, [id]);
  return { view, error };
}

export function ResearcherPage(_props: { claims: Claims }) {
  const catalogue = useCatalogue();
  const studies = useLoad(() => request<{ studies: Array<{ id: string; title: string }> }>('/studies'));
  const [studyId, setStudyId] = useState('');
  const [queryId, setQueryId] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const past = useLoad(() => request<{ queries: QueryView[] }>('/queries'), [version]);
  const { view, error } = useQuery(queryId, () => setVersion((v) => v + 1));
  const list = studies.data?.studies ?? [];
  const current = studyId || list[0]?.id || '';
  return (
    <>
      <Section title="New query">
        <ErrorNote message={studies.error} />
        {current ? <StudyBudgetNote studyId={current} version={version} /> : null}
        <QueryForm studies={list} catalogue={catalogue} onStudy={setStudyId} onSubmitted={setQueryId} />
      </Section>
      <Section title="Result">
        <StatusNote message={view ? `Query ${view.id.slice(0, 8)}: ${view.status}` : queryId ? 'Query submitted' : null} />
        <ErrorNote message={error} />
        {view ? <QueryResult view={view} catalogue={catalogue} /> : <p>Run a query to see its result here.</p>}
      </Section>
      <Section title="Your queries">
        <ErrorNote message={past.error} />
        <TableRegion label="Your queries">
          <table>
            <thead><tr><th scope="col">Submitted</th><th scope="col">Study</th><th scope="col">Query</th><th scope="col">Status</th><th scope="col">ε</th></tr></thead>
            <tbody>
              {(past.data?.queries ?? []).map((q) => (
                <tr key={q.id}><td>{formatDateTime(q.submittedAt)}</td><td>{q.study}</td><td>{q.aggregate} of {q.indicators.join(' and ')}{q.options?.filter ? ' (filtered)' : ''}{q.options?.groupBy ? ` by ${typeof q.options.groupBy === 'object' ? `${q.options.groupBy.indicator} bands` : q.options.groupBy}` : ''}</td><td>{q.status}</td><td>{formatNumber(q.privacy?.epsilonSpent ?? null)}</td></tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      </Section>
    </>
  );
}
