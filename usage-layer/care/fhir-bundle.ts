/**
 * Records as FHIR R4 Observations in a searchset Bundle, so an EHR can consume a care read as is.
 * Provenance stays with each Observation: meta.source names the original source (the provider
 * organisation, or `patient-reported`), identifier keeps the source system's own id, and a
 * patient-reported value carries a meta.tag and its device.
 */
import type { Bundle, BundleEntry, BundleLink, Observation } from '@medplum/fhirtypes';
import { indicatorCoding } from '../../management-layer/catalogue';
import type { IcsRecord } from '../../management-layer/ics-record';

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
export const PROVENANCE_TAG_SYSTEM = 'urn:hgd:provenance';
const SOURCE_ID_SYSTEM = 'urn:hgd:source-id';

export type StoredRecord = IcsRecord & { id: string };

/** The original source of a record, as meta.source. */
export function sourceOf(r: StoredRecord): string {
  return r.provenance.origin === 'patient-reported' ? 'urn:hgd:patient-reported' : `urn:hgd:org:${r.provenance.provider}`;
}

function effective(r: StoredRecord): Pick<Observation, 'effectiveDateTime' | 'effectivePeriod'> {
  return r.effectiveEnd === null ? { effectiveDateTime: r.effectiveStart } : { effectivePeriod: { start: r.effectiveStart, end: r.effectiveEnd } };
}

export function toObservation(r: StoredRecord, subject: { system: string; value: string }): Observation {
  const patientReported = r.provenance.origin === 'patient-reported';
  // A demographic has no LOINC code: it is coded by its name (urn:hgd:indicator), never as a made-up LOINC code.
  const codings = [indicatorCoding(r.indicator)];
  if (r.provenance.code.code !== codings[0]!.code) codings.push({ system: r.provenance.code.system, code: r.provenance.code.code, display: r.provenance.code.display ?? r.indicator });
  return {
    resourceType: 'Observation',
    id: r.id,
    meta: {
      source: sourceOf(r),
      ...(patientReported ? { tag: [{ system: PROVENANCE_TAG_SYSTEM, code: 'patient-reported', display: 'patient-reported' }] } : {}),
    },
    identifier: [{ system: `${SOURCE_ID_SYSTEM}:${r.provenance.sourceSystem}`, value: r.provenance.sourceId }],
    status: 'final',
    code: { coding: codings, text: r.indicator },
    subject: { identifier: subject },
    ...effective(r),
    valueQuantity: { value: r.value, unit: r.unit, system: UCUM_SYSTEM, code: r.unit },
    ...(patientReported && r.provenance.device ? { device: { display: r.provenance.device } } : {}),
  };
}

export interface Page {
  total: number;
  offset: number;
  count: number;
  /** The request's URL without _offset (for self and next links). */
  baseUrl: string;
}

/** A searchset Bundle of one page, with self and (when more follow) next links. */
export function searchsetBundle(records: StoredRecord[], subject: { system: string; value: string }, page: Page): Bundle<Observation> {
  const link = (offset: number) => `${page.baseUrl}${page.baseUrl.includes('?') ? '&' : '?'}_count=${page.count}&_offset=${offset}`;
  const links: BundleLink[] = [{ relation: 'self', url: link(page.offset) }];
  if (page.offset + records.length < page.total) links.push({ relation: 'next', url: link(page.offset + page.count) });
  const entry: BundleEntry<Observation>[] = records.map((r) => ({ fullUrl: `urn:uuid:${r.id}`, resource: toObservation(r, subject), search: { mode: 'match' } }));
  return { resourceType: 'Bundle', type: 'searchset', timestamp: new Date().toISOString(), total: page.total, link: links, entry };
}
