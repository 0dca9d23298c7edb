/**
 * The query options that depend on the aggregate (docs/usage.md): a quantile's q, a histogram's own
 * edges, group-by (a demographic or bands of an indicator) for count, mean, median and quantile, and declared bounds for the kinds that clamp (sum, mean,
 * variance, stddev, covariance, correlation), or automatic ones (not sum; ticked by default for covariance and correlation, as in the API). `extraOptions` reads them from the form as the API's
 * `options` and `groupBy`; an empty field sends nothing, and the API names the field of a bad value.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { Field } from '../components';

export const RANKED = new Set(['median', 'quantile']);
const CLAMPED = new Set(['sum', 'mean', 'variance', 'stddev', 'covariance', 'correlation']);
/** Kinds that take `options.bounds: "auto"` (bounds the gateway derives under DP). */
const AUTO_BOUNDED = new Set(['mean', 'variance', 'stddev', 'covariance', 'correlation']);
/** Kinds whose default is "auto" (the API's too): the box starts ticked, and unticked asks for "catalogue". */
const AUTO_BY_DEFAULT = new Set(['covariance', 'correlation']);
const GROUPED = new Set(['count', 'mean', 'median', 'quantile']);

export interface ExtraOptions {
  options: Record<string, unknown>;
  /** A demographic, or bands of an indicator's latest value. */
  groupBy: string | { indicator: string; edges: number[] } | null;
}

const numbers = (v: string) => v.split(/[\s,;]+/).filter(Boolean).map(Number);

const text = (form: FormData, name: string) => String(form.get(name) ?? '').trim();

/** The aggregate's own options from the form; `indicators` are the query's, in order. */
export function extraOptions(form: FormData, aggregate: string, indicators: string[]): ExtraOptions {
  const options: Record<string, unknown> = {};
  if (aggregate === 'quantile' && text(form, 'q')) options.q = Number(text(form, 'q'));
  if (aggregate === 'histogram' && text(form, 'edges')) options.edges = numbers(text(form, 'edges'));
  if (CLAMPED.has(aggregate)) {
    const bounds: Record<string, { min: number; max: number }> = {};
    indicators.forEach((name, k) => {
      const [min, max] = [text(form, `boundMin${k}`), text(form, `boundMax${k}`)];
      if (min || max) bounds[name] = { min: Number(min), max: Number(max) };
    });
    if (Object.keys(bounds).length > 0) options.bounds = bounds;
  }
  if (AUTO_BOUNDED.has(aggregate) && form.get('autoBounds') === 'on') options.bounds = 'auto';
  else if (AUTO_BY_DEFAULT.has(aggregate) && options.bounds === undefined) options.bounds = 'catalogue';
  const grouping = GROUPED.has(aggregate) ? text(form, 'groupBy') : '';
  const groupBy = grouping === 'bands' ? { indicator: text(form, 'bandIndicator'), edges: numbers(text(form, 'bandEdges')) } : grouping || null;
  return { options, groupBy };
}

function BoundFields({ which, k }: { which: string; k: number }) {
  // "Declared lower bound" for the (first) indicator, "…, second" for the second one of a pair.
  return (
    <>
      <Field label={`Declared lower bound${which}`} hint="Optional, with the upper bound: values below it count as the bound, and the noise follows from the bounds, not the catalogue’s range.">{(id, hint) => <input id={id} name={`boundMin${k}`} type="number" step="any" aria-describedby={hint} />}</Field>
      <Field label={`Declared upper bound${which}`}>{(id) => <input id={id} name={`boundMax${k}`} type="number" step="any" />}</Field>
    </>
  );
}

/** `indicatorOptions`: the catalogue's indicators as <option>s, for the bands' indicator. */
export function AggregateOptions({ aggregate, paired, indicatorOptions }: { aggregate: string; paired: boolean; indicatorOptions: ComponentChildren }) {
  const [grouping, setGrouping] = useState('');
  return (
    <>
      {aggregate === 'quantile' ? <Field label="Quantile q" hint="0.01 to 0.99 in steps of 0.01 (0.9: the 90th percentile). No min or max: they cannot be released privately.">{(id, hint) => <input id={id} name="q" type="number" min="0.01" max="0.99" step="0.01" required aria-describedby={hint} />}</Field> : null}
      {aggregate === 'histogram' ? <Field label="Bucket edges (optional)" hint="Increasing numbers inside the indicator’s range, e.g. 90, 120, 140, 160: one bucket between each two, over each patient’s latest value. Empty: the catalogue’s buckets.">{(id, hint) => <input id={id} name="edges" type="text" inputMode="decimal" aria-describedby={hint} />}</Field> : null}
      {GROUPED.has(aggregate) ? (
        <Field label="Group by">{(id) => (
          <select id={id} name="groupBy" value={grouping} onChange={(e) => setGrouping((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">no grouping</option>
            <option value="sex">administrative sex</option>
            <option value="birth_decade">birth decade</option>
            <option value="bands">bands of an indicator</option>
          </select>
        )}</Field>
      ) : null}
      {GROUPED.has(aggregate) && grouping === 'bands' ? (
        <>
          <Field label="Band indicator">{(id) => <select id={id} name="bandIndicator">{indicatorOptions}</select>}</Field>
          <Field label="Band edges" hint="1 to 8 increasing numbers inside the indicator’s range, e.g. 5.7, 6.5: groups below the first, between each two, and at or above the last (each patient’s latest value).">{(id, hint) => <input id={id} name="bandEdges" type="text" inputMode="decimal" required aria-describedby={hint} />}</Field>
        </>
      ) : null}
      {AUTO_BOUNDED.has(aggregate) ? (
        <Field label="Automatic bounds" hint={`The gateway derives the bounds privately (mean ± 4 standard deviations from a pilot) and clamps into them: a more accurate release when you know no bounds. Overrides declared bounds.${AUTO_BY_DEFAULT.has(aggregate) ? ' On by default for this aggregate; untick it for the catalogue’s ranges.' : ''}`}>{(id, hint) => <input key={aggregate} id={id} name="autoBounds" type="checkbox" defaultChecked={AUTO_BY_DEFAULT.has(aggregate)} aria-describedby={hint} />}</Field>
      ) : null}
      {CLAMPED.has(aggregate) ? <BoundFields which={paired ? ', first' : ''} k={0} /> : null}
      {CLAMPED.has(aggregate) && paired ? <BoundFields which=", second" k={1} /> : null}
    </>
  );
}
