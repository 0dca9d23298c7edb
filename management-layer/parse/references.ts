/** FHIR reference resolution inside one upload (Bundle fullUrl rules, simplified). */

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const RESTFUL = /^(?<base>https?:\/\/.+\/)?(?<type>[A-Z][A-Za-z]+)\/(?<id>[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** True for a URL or urn: reference (as opposed to a relative 'Patient/23'). */
export function isAbsoluteReference(reference: string): boolean {
  return ABSOLUTE.test(reference.trim());
}

/** 'Patient/45/_history/2' -> 'Patient/45' (also for absolute URLs). */
export function stripHistory(reference: string): string {
  return reference.replace(/\/_history\/[^/]+$/, '');
}

/** The service base of a RESTful fullUrl ('https://x/fhir/Observation/1' -> 'https://x/fhir/'), else undefined. */
export function serviceBase(fullUrl: string | undefined): string | undefined {
  if (!fullUrl) return undefined;
  const m = RESTFUL.exec(fullUrl);
  return m?.groups?.base;
}

/** The resource type a reference points to ('Patient' for 'Patient/x' or 'https://x/Patient/x'); undefined for urn: references. */
export function referenceType(reference: string): string | undefined {
  return RESTFUL.exec(reference.trim())?.groups?.type;
}

/**
 * The key under which a reference is looked up: absolute references (URLs, urn:uuid:, urn:oid:) as they are;
 * relative references resolved against the service base of the referring entry's fullUrl when it has one
 * (FHIR Bundle rules), otherwise left relative ('Patient/23'). Version suffixes are dropped.
 */
export function referenceKey(reference: string, contextFullUrl?: string): string {
  const r = stripHistory(reference.trim());
  if (ABSOLUTE.test(r)) return r;
  const base = serviceBase(contextFullUrl);
  return base ? base + r : r;
}

/** Keys an entry is found under: its fullUrl and 'Type/id'. */
export function entryKeys(resourceType: string, id: unknown, fullUrl: string | undefined): string[] {
  const keys: string[] = [];
  if (fullUrl) keys.push(stripHistory(fullUrl));
  if (typeof id === 'string' && id !== '') keys.push(`${resourceType}/${id}`);
  return keys;
}
