/**
 * Walks a Bundle's entries into candidate Observations. Bundles inside the Bundle are expanded up to
 * MAX_BUNDLE_NESTING levels, each its own scope for Patients, panels and reports (falling back to the enclosing
 * Bundle's Patients). Every Observation of a nested Bundle that is too deep or of a type HGD does not accept gets
 * its own error, so no Observation of the upload disappears without a word.
 */
import { attachContext, type ReportEntry } from './context';
import { PatientCollector, hasDemographics } from './patients';
import type { FhirItem, PatientScope, RejectedEntry, SentEntry } from './types';

export const ACCEPTED_BUNDLE_TYPES = ['transaction', 'batch', 'collection', 'searchset'] as const;
/** Bundles inside the upload's Bundle are expanded this many levels deep. */
export const MAX_BUNDLE_NESTING = 3;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isAcceptedBundleType(type: unknown): type is (typeof ACCEPTED_BUNDLE_TYPES)[number] {
  return typeof type === 'string' && (ACCEPTED_BUNDLE_TYPES as readonly string[]).includes(type);
}

const sentEntry = (entry: unknown): SentEntry => ({ shape: 'entry', text: () => JSON.stringify(entry) });

/** What a walk produces, shared by every nesting level. */
export interface BundleWalk {
  items: FhirItem[];
  errors: RejectedEntry[];
  ignored: Array<{ ref: string; resourceType: string }>;
  collector: PatientCollector;
}

interface Level {
  pointer: string;
  /** Prefix of the refs of entries without a fullUrl ('' at the top, 'outer-ref > ' inside). */
  refPrefix: string;
  depth: number;
  parent?: PatientScope;
}

/** Walks one Bundle (whose type was checked) and returns its Patient scope. Patients with demographics are items too. */
export function walkBundle(bundle: Obj, level: Level, out: BundleWalk): PatientScope {
  const scope: PatientScope = { patients: new Map(), ...(level.parent ? { parent: level.parent } : {}) };
  const items: FhirItem[] = [];
  const reports: ReportEntry[] = [];
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  entries.forEach((entry: unknown, i) => {
    const pointer = `${level.pointer}/entry/${i}`;
    const fallbackRef = `${level.refPrefix}entry[${i}]`;
    if (!isObject(entry)) {
      out.errors.push({ ref: fallbackRef, pointer, reason: 'entry must be an object', sent: sentEntry(entry) });
      return;
    }
    const fullUrl = typeof entry.fullUrl === 'string' && entry.fullUrl.trim() !== '' ? entry.fullUrl.trim() : undefined;
    const ref = fullUrl ?? fallbackRef;
    const resource = entry.resource;
    if (!isObject(resource)) {
      out.errors.push({ ref, pointer: `${pointer}/resource`, reason: 'entry has no resource', sent: sentEntry(entry) });
      return;
    }
    const at = { ref, pointer: `${pointer}/resource`, fullUrl, entry, resource };
    switch (resource.resourceType) {
      case 'Observation':
        items.push({ kind: 'fhir', ref, pointer: at.pointer, ...(fullUrl ? { fullUrl } : {}), resource, scope, sent: sentEntry(entry) });
        break;
      case 'Patient':
        out.collector.add(scope.patients, resource, fullUrl);
        if (hasDemographics(resource)) items.push({ kind: 'fhir', ref, pointer: at.pointer, ...(fullUrl ? { fullUrl } : {}), resource, sent: sentEntry(entry) });
        break;
      case 'DiagnosticReport':
        reports.push({ ref, ...(fullUrl ? { fullUrl } : {}), resource });
        break;
      case 'Bundle':
        nestedBundle(at, level, scope, out);
        break;
      default:
        out.ignored.push({ ref, resourceType: typeof resource.resourceType === 'string' ? resource.resourceType : 'unknown' });
    }
  });
  attachContext(items.filter((item) => (item.resource as Obj).resourceType === 'Observation'), reports);
  out.items.push(...items);
  return scope;
}

function nestedBundle(at: { ref: string; pointer: string; resource: Obj }, level: Level, scope: PatientScope, out: BundleWalk): void {
  const depth = level.depth + 1;
  const type = at.resource.type;
  const inner: Level = { pointer: at.pointer, refPrefix: `${at.ref} > `, depth, parent: scope };
  if (depth > MAX_BUNDLE_NESTING) {
    refuseObservations(at, inner, `it is in a Bundle nested ${depth} levels deep; HGD expands Bundles inside Bundles up to ${MAX_BUNDLE_NESTING} levels: send the inner Bundle on its own`, out);
  } else if (!isAcceptedBundleType(type)) {
    refuseObservations(at, inner, `it is in a Bundle of type ${JSON.stringify(type ?? null)} (${at.ref}), which HGD does not accept (accepted: ${ACCEPTED_BUNDLE_TYPES.join(', ')})`, out);
  } else if (at.resource.entry !== undefined && !Array.isArray(at.resource.entry)) {
    out.errors.push({ ref: at.ref, pointer: `${at.pointer}/entry`, reason: 'Bundle.entry must be an array', sent: sentEntry(at.resource) });
  } else {
    walkBundle(at.resource, inner, out);
  }
}

/** One error per Observation anywhere inside a Bundle HGD does not expand; a Bundle without any is ignored. */
function refuseObservations(at: { ref: string; resource: Obj }, level: Level, reason: string, out: BundleWalk): void {
  const before = out.errors.length;
  const stack: Array<{ bundle: Obj; level: Level }> = [{ bundle: at.resource, level }];
  while (stack.length) {
    const { bundle, level: l } = stack.pop()!;
    const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
    entries.forEach((entry: unknown, i) => {
      const resource = isObject(entry) ? entry.resource : undefined;
      if (!isObject(entry) || !isObject(resource)) return;
      const pointer = `${l.pointer}/entry/${i}/resource`;
      const ref = typeof entry.fullUrl === 'string' && entry.fullUrl.trim() !== '' ? entry.fullUrl.trim() : `${l.refPrefix}entry[${i}]`;
      if (resource.resourceType === 'Observation') out.errors.push({ ref, pointer, reason: `Observation not read: ${reason}`, sent: sentEntry(entry) });
      else if (resource.resourceType === 'Bundle') stack.push({ bundle: resource, level: { pointer, refPrefix: `${ref} > `, depth: l.depth + 1 } });
    });
  }
  if (out.errors.length === before) out.ignored.push({ ref: at.ref, resourceType: 'Bundle' });
}
