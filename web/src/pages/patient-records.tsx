/** Each indicator as a chart over time in its canonical unit, with the provenance of every value as a table. */
import { Fragment } from 'preact';
import { request } from '../api';
import { ErrorNote, Section, TableRegion } from '../components';
import { useLoad } from '../hooks';
import { TimeChart } from '../chart';
import { codedWords, formatDateTime, formatNumber, unitWords, type IndicatorInfo } from '../words';

export interface Observation {
  id: string;
  indicator: string;
  effectiveStart: string;
  value: number;
  unit: string;
  provenance: { provider: string; origin?: string; device?: string; valueAsReceived?: string; unitAsReceived?: string; code?: { code: string } };
}

function source(o: Observation): string {
  if (o.provenance.origin === 'patient-reported' || o.provenance.provider.startsWith('patient:')) {
    return o.provenance.device ? `you, with ${o.provenance.device}` : 'you (patient-reported)';
  }
  return o.provenance.provider;
}

function byIndicator(observations: Observation[]): Map<string, Observation[]> {
  const groups = new Map<string, Observation[]>();
  for (const o of [...observations].sort((a, b) => a.effectiveStart.localeCompare(b.effectiveStart))) {
    groups.set(o.indicator, [...(groups.get(o.indicator) ?? []), o]);
  }
  return groups;
}

function IndicatorChart({ name, rows, info }: { name: string; rows: Observation[]; info: IndicatorInfo | undefined }) {
  const display = info?.display ?? name;
  const unit = rows[0]?.unit ?? info?.canonicalUnit ?? '';
  return (
    <article class="indicator">
      <h3>{display} <span class="unit">({unitWords(unit)})</span></h3>
      <TimeChart points={rows.map((r) => ({ time: r.effectiveStart, value: r.value }))} unit={unitWords(unit)} label={`${display} over time, ${rows.length} values; the table below lists them`} />
      <details>
        <summary>{rows.length === 1 ? '1 value' : `${rows.length} values`} and where they came from</summary>
        <TableRegion label={`${display} values`}>
          <table>
            <thead><tr><th scope="col">When</th><th scope="col">Value</th><th scope="col">From</th><th scope="col">As sent</th></tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td>{formatDateTime(r.effectiveStart)}</td>
                  <td>{formatNumber(r.value)} {unitWords(r.unit)}</td>
                  <td>{source(r)}</td>
                  <td>{r.provenance.valueAsReceived ?? '—'} {r.provenance.unitAsReceived ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      </details>
    </article>
  );
}

/** Demographics (birth year, sex) are facts, not series: their latest value in words. */
function Demographics({ groups, catalogue }: { groups: Array<[string, Observation[]]>; catalogue: Map<string, IndicatorInfo> }) {
  if (groups.length === 0) return null;
  return (
    <dl class="numbers">
      {groups.map(([name, rows]) => {
        const latest = rows.at(-1)!;
        return <Fragment key={name}><dt>{catalogue.get(name)?.display ?? name}</dt><dd>{codedWords(latest.value, catalogue.get(name))} <small>(from {source(latest)})</small></dd></Fragment>;
      })}
    </dl>
  );
}

export function PatientRecords({ catalogue, version }: { catalogue: Map<string, IndicatorInfo>; version: number }) {
  const { data, error } = useLoad(() => request<{ observations: Observation[] }>('/patients/me/observations'), [version]);
  const all = [...byIndicator(data?.observations ?? [])];
  const isDemographic = ([name]: [string, Observation[]]) => catalogue.get(name)?.kind === 'demographic';
  const series = all.filter((g) => !isDemographic(g));
  return (
    <Section title="Your records" id="records">
      <ErrorNote message={error} />
      {data && all.length === 0 ? <p>No records yet. Your providers' uploads and your own readings appear here.</p> : null}
      <Demographics groups={all.filter(isDemographic)} catalogue={catalogue} />
      <div class="charts">
        {series.map(([name, rows]) => <IndicatorChart key={name} name={name} rows={rows} info={catalogue.get(name)} />)}
      </div>
    </Section>
  );
}
