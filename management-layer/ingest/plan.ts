/**
 * From normalised entries to what a batch stores: subjects resolved to pseudonyms (the upload's own Patients,
 * then the provider's links), records prepared with their idempotency keys, and for every entry its final
 * outcome. An entry whose subject resolves to no patient is rejected: HGD never stores a value under a patient
 * nobody can log in as.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { draftToRecord, isSubjectReference, validateIcsRecord, type IcsRecordDraft, type SubjectReference } from '../ics-record';
import type { NormalisedEntry, NormalisedUpload } from '../normalise';
import { LEGACY_FHIR_REFERENCE_SYSTEM } from '../patient-systems';
import type { EntryError, PanelMembers, ParseResult } from '../parse';
import { pseudonymFor, rawPseudonym, type KeyRing } from './envelope';
import type { Reporter } from './ingest-service';
import type { PatientLinks } from './patient-links';
import { contentKeyOf, sourceKeyOf, type PreparedRecord } from './record-store';

export interface PlannedEntry {
  source: NormalisedEntry;
  records: PreparedRecord[];
  errors: EntryError[];
  expanded?: PanelMembers;
}

export interface Plan {
  entries: PlannedEntry[];
  errors: EntryError[];
  /** What is stored (nothing when a transaction Bundle has a rejected entry). */
  toStore: PreparedRecord[];
  rejectAll: boolean;
  /** The upload's Patients, to keep as the provider's links. */
  links: Array<{ key: string; pseudonym: string }>;
  /** Made-up pseudonym (before management-002) -> the patient's pseudonym, for the legacy relink. */
  moves: Map<string, string>;
}

interface Resolver {
  keys: KeyRing;
  /** Reference key -> pseudonym: the upload's own Patients first, then the provider's earlier ones. */
  linked: Map<string, string>;
}

const where = (e: NormalisedEntry) => e.item ?? e.rejected!;

/** The pseudonym of a draft's subject, or undefined for a reference nothing resolves. */
function pseudonymOf(r: Resolver, draft: IcsRecordDraft): string | undefined {
  const s = draft.subject;
  if (!isSubjectReference(s)) return pseudonymFor(r.keys, s.system, s.value);
  for (const key of s.linkKeys) {
    const found = r.linked.get(key);
    if (found) return found;
  }
  return undefined;
}

function unresolvedError(e: NormalisedEntry, s: SubjectReference): EntryError {
  const item = where(e);
  const own = item && 'resource' in item && typeof (item.resource as { subject?: unknown }).subject === 'object';
  return {
    ref: item.ref,
    pointer: `${item.pointer}/subject${own ? '/reference' : ''}`,
    reason: `subject "${s.reference}" is not linked to a patient: neither this upload nor an earlier one from this provider holds that Patient with an identifier; send the Patient (with an identifier) first, or give subject.identifier`,
    ...(item.line !== undefined ? { line: item.line } : {}),
  };
}

/** One entry's records (pseudonymised and checked) and errors. */
function planEntry(r: Resolver, e: NormalisedEntry, moves: Map<string, string>, reporter?: Reporter): PlannedEntry {
  const planned: PlannedEntry = { source: e, records: [], errors: [...e.errors], ...(e.expanded ? { expanded: e.expanded } : {}) };
  for (const drafted of e.records) {
    // A patient's own upload: the reporter decides whose records they are (only the patient's own).
    const claimed = reporter?.claim(drafted, (d) => pseudonymOf(r, d));
    if (claimed && !('patient' in claimed)) {
      planned.errors.push({ ref: where(e).ref, pointer: where(e).pointer + claimed.pointer, reason: claimed.reason });
      continue;
    }
    const draft = claimed ? claimed.draft : drafted;
    const patient = claimed ? claimed.patient : pseudonymOf(r, draft);
    if (patient === undefined) {
      planned.records = [];
      planned.errors.push(unresolvedError(e, draft.subject as SubjectReference));
      return planned;
    }
    const record = draftToRecord(draft, patient);
    const issues = validateIcsRecord(record);
    if (issues.length) {
      planned.errors.push({ ref: where(e).ref, pointer: where(e).pointer + issues[0]!.pointer, reason: issues.map((i) => i.reason).join('; ') });
      continue;
    }
    if (draft.legacySubject) moves.set(rawPseudonym(r.keys, draft.legacySubject.system, draft.legacySubject.value), patient);
    planned.records.push({ id: randomUUID(), record, sourceKey: sourceKeyOf(record), contentKey: contentKeyOf(record) });
  }
  if (!planned.records.length && !planned.errors.length && !planned.expanded) {
    planned.errors.push({ ref: where(e).ref, pointer: where(e).pointer, reason: 'nothing HGD stores came of this entry' }); // never silent
  }
  return planned;
}

async function resolver(trx: Knex.Transaction, keys: KeyRing, links: PatientLinks, provider: string, parsed: ParseResult, upload: NormalisedUpload): Promise<Resolver> {
  const wanted = new Set<string>();
  for (const d of upload.records) if (isSubjectReference(d.subject)) for (const k of d.subject.linkKeys) wanted.add(k);
  const linked = wanted.size ? await links.lookup(trx, provider, wanted) : new Map<string, string>();
  for (const l of parsed.links) linked.set(l.key, pseudonymFor(keys, l.identifier.system, l.identifier.value));
  return { keys, linked };
}

export async function planUpload(trx: Knex.Transaction, keys: KeyRing, links: PatientLinks, provider: string, parsed: ParseResult, upload: NormalisedUpload, reporter?: Reporter): Promise<Plan> {
  const r = await resolver(trx, keys, links, provider, parsed, upload);
  const moves = new Map<string, string>();
  const entries = upload.entries.map((e) => planEntry(r, e, moves, reporter));
  const errors = entries.flatMap((e) => e.errors);
  const rejectAll = parsed.bundleType === 'transaction' && errors.length > 0;
  const linksToSave = parsed.links.map((l) => ({ key: l.key, pseudonym: r.linked.get(l.key)! }));
  for (const l of linksToSave) moves.set(rawPseudonym(keys, LEGACY_FHIR_REFERENCE_SYSTEM, l.key), l.pseudonym);
  return { entries, errors, toStore: rejectAll ? [] : entries.flatMap((e) => e.records), rejectAll, links: rejectAll ? [] : linksToSave, moves: rejectAll ? new Map() : moves };
}
