/**
 * What an Observation inherits from the panel (Observation.hasMember) or DiagnosticReport (result[]) of the same
 * Bundle that lists it: subject, effective[x] and performer, each only where the Observation has none of its own.
 * A lab Bundle puts the time on the panel and the panel in the report, so a member's time comes from its panel,
 * and the panel's subject from the report. A panel is preferred to a report; several listing the same Observation
 * must agree, otherwise it inherits nothing.
 */
import { entryKeys, referenceKey } from './references';
import type { FhirItem, InheritedContext } from './types';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const EFFECTIVE = ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'] as const;

/** A DiagnosticReport of the Bundle. */
export interface ReportEntry {
  ref: string;
  fullUrl?: string;
  resource: Obj;
}

interface Referrer {
  kind: 'panel' | 'report';
  ref: string;
  fullUrl?: string;
  resource: Obj;
  /** Set for a panel: the Observation item, whose own context may come from a report. */
  item?: FhirItem;
}

function references(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((r) => (isObject(r) && typeof r.reference === 'string' ? [r.reference] : []));
}

/** The referrers of every Observation of one Bundle; sets `panel` on each Observation that lists members. */
function referrersOf(items: FhirItem[], reports: ReportEntry[]): Map<FhirItem, Referrer[]> {
  const byKey = new Map<string, FhirItem>();
  for (const item of items) {
    for (const key of entryKeys('Observation', (item.resource as Obj).id, item.fullUrl)) if (!byKey.has(key)) byKey.set(key, item);
  }
  const out = new Map<FhirItem, Referrer[]>();
  const link = (reference: string, from: Referrer) => {
    const target = byKey.get(referenceKey(reference, from.fullUrl));
    if (!target || target === from.item) return false;
    const list = out.get(target) ?? [];
    if (!list.some((r) => r.ref === from.ref)) list.push(from);
    out.set(target, list);
    return true;
  };
  for (const item of items) {
    const members = references((item.resource as Obj).hasMember);
    if (members.length === 0) continue;
    const from: Referrer = { kind: 'panel', ref: item.ref, ...(item.fullUrl ? { fullUrl: item.fullUrl } : {}), resource: item.resource as Obj, item };
    item.panel = { members: members.length, inUpload: members.filter((m) => link(m, from)).length };
  }
  for (const report of reports) {
    for (const result of references(report.resource.result)) link(result, { kind: 'report', ...report });
  }
  return out;
}

class ContextResolver {
  private readonly memo = new Map<FhirItem, InheritedContext | undefined>();
  private readonly visiting = new Set<FhirItem>();

  constructor(private readonly referrers: Map<FhirItem, Referrer[]>) {}

  /** What `item` inherits, or undefined. */
  of(item: FhirItem): InheritedContext | undefined {
    if (this.memo.has(item)) return this.memo.get(item);
    if (this.visiting.has(item)) return undefined; // hasMember cycle
    this.visiting.add(item);
    const list = this.referrers.get(item) ?? [];
    const chosen = agreed(list.filter((r) => r.kind === 'panel').map((r) => this.contextGivenBy(r)))
      ?? agreed(list.filter((r) => r.kind === 'report').map((r) => this.contextGivenBy(r)));
    this.visiting.delete(item);
    this.memo.set(item, chosen);
    return chosen;
  }

  /** The referrer's own subject / effective[x] / performer, completed by what the referrer itself inherits. */
  private contextGivenBy(r: Referrer): InheritedContext {
    const upper = r.item ? this.of(r.item) : undefined;
    const own = r.resource;
    const ctx: InheritedContext = { from: r.ref };
    if (own.subject !== undefined) {
      ctx.subject = own.subject;
      if (r.fullUrl) ctx.fullUrl = r.fullUrl;
    } else if (upper?.subject !== undefined) {
      ctx.subject = upper.subject;
      if (upper.fullUrl) ctx.fullUrl = upper.fullUrl;
    }
    const timeFrom = EFFECTIVE.some((k) => own[k] !== undefined) ? own : upper;
    for (const k of EFFECTIVE) if (timeFrom?.[k] !== undefined) ctx[k] = timeFrom[k];
    const performer = own.performer ?? upper?.performer;
    if (performer !== undefined) ctx.performer = performer;
    return ctx;
  }
}

/** The one context all referrers agree on (ignoring which of them gave it), else undefined. */
function agreed(list: InheritedContext[]): InheritedContext | undefined {
  const first = list[0];
  if (!first) return undefined;
  const key = (c: InheritedContext) => JSON.stringify([c.subject ?? null, c.fullUrl ?? null, ...EFFECTIVE.map((k) => c[k] ?? null), c.performer ?? null]);
  const k0 = key(first);
  return list.every((c) => key(c) === k0) ? first : undefined;
}

/** Sets `inherited` (and `panel`) on the Observations of one Bundle. */
export function attachContext(items: FhirItem[], reports: ReportEntry[]): void {
  const referrers = referrersOf(items, reports);
  if (referrers.size === 0) return;
  const resolver = new ContextResolver(referrers);
  for (const item of referrers.keys()) {
    const ctx = resolver.of(item);
    if (ctx) item.inherited = ctx;
  }
}
