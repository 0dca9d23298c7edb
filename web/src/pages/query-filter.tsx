/**
 * The researcher's cohort filter: up to four comparisons ({indicator, op, value} on each patient's
 * latest value in the window), joined by "all" (and) or "any" (or); what it sends is the query API's
 * `filter` (docs/usage.md, "Cohort filters"). `filterWords` says a filter in words for the result.
 */
import { Field } from '../components';
import { formatNumber, unitWords, type IndicatorInfo } from '../words';

export interface Predicate { indicator: string; op: string; value: number | string }
export type QueryFilter = Predicate | { and: QueryFilter[] } | { or: QueryFilter[] };

export interface FilterDraft { join: 'and' | 'or'; leaves: Array<{ indicator: string; op: string; value: string }> }

export const MAX_LEAVES = 4;
const OPS: Array<[string, string]> = [['>=', 'at least'], ['>', 'above'], ['<=', 'at most'], ['<', 'below'], ['=', 'equal to']];
const OP_WORDS = new Map(OPS);

const coded = (info: IndicatorInfo | undefined) => Object.keys(info?.valueCodes ?? {}).length > 0;

/** The draft as the API's `filter` (null without comparisons). A coded demographic sends its code name. */
export function filterOf(draft: FilterDraft, catalogue: Map<string, IndicatorInfo>): QueryFilter | null {
  const leaves: Predicate[] = draft.leaves.map((l) => {
    const text = l.value.trim();
    const value = coded(catalogue.get(l.indicator)) || text === '' || !Number.isFinite(Number(text)) ? text : Number(text);
    return { indicator: l.indicator, op: l.op, value };
  });
  if (leaves.length === 0) return null;
  if (leaves.length === 1) return leaves[0]!;
  return draft.join === 'and' ? { and: leaves } : { or: leaves };
}

function predicateWords(p: Predicate, catalogue: Map<string, IndicatorInfo>): string {
  const info = catalogue.get(p.indicator);
  // "Administrative sex (FHIR administrative-gender)" reads as "administrative sex".
  const name = (info?.display ?? p.indicator).replace(/\s*\(.*\)$/, '').toLowerCase();
  const value = typeof p.value === 'number' ? `${formatNumber(p.value)}${info?.canonicalUnit ? ` ${unitWords(info.canonicalUnit)}` : ''}` : p.value;
  const op = coded(info) && p.op === '=' ? 'is' : `is ${OP_WORDS.get(p.op) ?? p.op}`;
  return `${name} ${op} ${value}`;
}

/** "patients whose latest glucose is at least 5.5 mmol/L and whose administrative sex is female" */
export function filterWords(filter: QueryFilter, catalogue: Map<string, IndicatorInfo>): string {
  const part = (f: QueryFilter): string => {
    if ('and' in f) return f.and.map(part).join(' and ');
    if ('or' in f) return `(${f.or.map(part).join(' or ')})`;
    const latest = catalogue.get(f.indicator)?.kind === 'demographic' ? '' : 'latest ';
    return `whose ${latest}${predicateWords(f, catalogue)}`;
  };
  const said = part(filter);
  return `patients ${said.startsWith('(') && said.endsWith(')') ? said.slice(1, -1) : said}`;
}

function Leaf({ n, leaf, indicators, onChange, onRemove }: { n: number; leaf: FilterDraft['leaves'][number]; indicators: IndicatorInfo[]; onChange: (l: FilterDraft['leaves'][number]) => void; onRemove: () => void }) {
  const info = indicators.find((i) => i.name === leaf.indicator);
  const codes = Object.keys(info?.valueCodes ?? {});
  const ops = codes.length ? OPS.filter(([op]) => op === '=') : OPS;
  const value = (e: Event) => onChange({ ...leaf, value: (e.currentTarget as HTMLInputElement).value });
  return (
    <div class="inline filter-leaf">
      <Field label={`Condition ${n}: indicator`}>{(id) => (
        <select id={id} value={leaf.indicator} onChange={(e) => {
          const next = indicators.find((i) => i.name === (e.currentTarget as HTMLSelectElement).value);
          const nextCodes = Object.keys(next?.valueCodes ?? {});
          onChange({ indicator: next?.name ?? '', op: nextCodes.length ? '=' : leaf.op === '=' ? '>=' : leaf.op, value: nextCodes[0] ?? '' });
        }}>
          {indicators.map((i) => <option key={i.name} value={i.name}>{i.display}{i.canonicalUnit ? ` (${i.canonicalUnit})` : ''}</option>)}
        </select>
      )}</Field>
      <Field label={`Condition ${n}: comparison`}>{(id) => (
        <select id={id} value={leaf.op} onChange={(e) => onChange({ ...leaf, op: (e.currentTarget as HTMLSelectElement).value })}>
          {ops.map(([op, words]) => <option key={op} value={op}>{words} ({op})</option>)}
        </select>
      )}</Field>
      <Field label={`Condition ${n}: value`}>{(id) => codes.length ? (
        <select id={id} value={leaf.value} onChange={value}>{codes.map((c) => <option key={c} value={c}>{c}</option>)}</select>
      ) : (
        <input id={id} type="number" step="any" required value={leaf.value} onInput={value} />
      )}</Field>
      <button type="button" class="secondary" onClick={onRemove}>Remove condition {n}</button>
    </div>
  );
}

/** The builder: conditions, how they combine, add and remove. */
export function FilterBuilder({ draft, catalogue, onChange }: { draft: FilterDraft; catalogue: Map<string, IndicatorInfo>; onChange: (d: FilterDraft) => void }) {
  const indicators = [...catalogue.values()];
  const setLeaf = (i: number, l: FilterDraft['leaves'][number]) => onChange({ ...draft, leaves: draft.leaves.map((x, j) => (j === i ? l : x)) });
  const add = () => {
    const first = indicators.find((i) => i.kind !== 'demographic') ?? indicators[0];
    onChange({ ...draft, leaves: [...draft.leaves, { indicator: first?.name ?? '', op: '>=', value: '' }] });
  };
  return (
    <fieldset class="filter">
      <legend>Cohort filter (optional): each patient’s latest value in the window</legend>
      {draft.leaves.length > 1 ? (
        <Field label="Patients must match">{(id) => (
          <select id={id} value={draft.join} onChange={(e) => onChange({ ...draft, join: (e.currentTarget as HTMLSelectElement).value as 'and' | 'or' })}>
            <option value="and">all conditions (and)</option>
            <option value="or">any condition (or)</option>
          </select>
        )}</Field>
      ) : null}
      {draft.leaves.map((l, i) => <Leaf key={i} n={i + 1} leaf={l} indicators={indicators} onChange={(x) => setLeaf(i, x)} onRemove={() => onChange({ ...draft, leaves: draft.leaves.filter((_, j) => j !== i) })} />)}
      {draft.leaves.length < MAX_LEAVES ? <button type="button" class="secondary" onClick={add}>Add a condition</button> : null}
      <p><small>Filters apply to count, sum, mean, variance, stddev, histogram, median and quantile. Values are in the indicator’s unit shown beside it; sex by its code, year of birth as a year.</small></p>
    </fieldset>
  );
}
