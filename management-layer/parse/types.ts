/** Shapes shared by the parsers and the normaliser. */

/**
 * One problem with one entry of an upload. `pointer` is a JSON pointer into the upload (see schema/README.md);
 * `line` is the entry's first line in the provider's file (NDJSON and CSV only).
 */
export interface EntryError {
  ref: string;
  pointer: string;
  reason: string;
  line?: number;
}

export interface PatientIdentifier {
  system: string;
  value: string;
}

/** Patient identifiers found in one Bundle (or NDJSON upload), keyed by 'Patient/<id>' and by the entry's fullUrl. */
export type PatientMap = Map<string, PatientIdentifier>;

/** The Patients an Observation's subject is looked up in: its own Bundle's first, then the enclosing Bundles'. */
export interface PatientScope {
  patients: PatientMap;
  parent?: PatientScope;
}

/** A Patient of the upload with an identifier, under a key the provider may use again in later uploads. */
export interface PatientLink {
  key: string;
  identifier: PatientIdentifier;
}

/**
 * Context an Observation inherits from the panel (hasMember) or DiagnosticReport (result) in the same Bundle that
 * lists it, used only for elements the Observation itself lacks (subject, effective[x], performer).
 */
export interface InheritedContext {
  /** ref of the panel or DiagnosticReport entry. */
  from: string;
  /** fullUrl of that entry, against which its subject reference resolves. */
  fullUrl?: string;
  subject?: unknown;
  effectiveDateTime?: unknown;
  effectivePeriod?: unknown;
  effectiveInstant?: unknown;
  performer?: unknown;
}

/** A panel (an Observation with hasMember): how many members it lists and how many of them are in the upload. */
export interface PanelMembers {
  members: number;
  inUpload: number;
}

/**
 * An entry exactly as the provider sent it, produced only when it is quarantined: a Bundle entry or a lone
 * resource (JSON), an NDJSON line or a CSV row (text).
 */
export interface SentEntry {
  shape: 'entry' | 'resource' | 'line' | 'row';
  text(): string;
}

/**
 * A candidate FHIR Observation with its location in the upload, or a Patient that carries demographics
 * (birthDate or gender: normalise-patient.ts); the resource's resourceType tells which.
 */
export interface FhirItem {
  kind: 'fhir';
  /** 'entry[3]', the entry's fullUrl, 'line 7' or 'resource'. */
  ref: string;
  /** JSON pointer of the resource in the upload, e.g. '/entry/3/resource' ('' for a lone Observation). */
  pointer: string;
  /** NDJSON: the line in the provider's file. */
  line?: number;
  fullUrl?: string;
  resource: unknown;
  inherited?: InheritedContext;
  /** Where its subject reference is looked up (absent: nowhere in the upload). */
  scope?: PatientScope;
  /** Set when the Observation lists members (hasMember). */
  panel?: PanelMembers;
  sent: SentEntry;
}

/** One CSV data row; `row` counts the file's data rows from 1 (the header and blank rows are not counted). */
export interface CsvItem {
  kind: 'csv';
  ref: string;
  pointer: string;
  row: number;
  /** The row's first line in the provider's file. */
  line: number;
  fields: CsvFields;
  /** The header has patient_id and demographic columns only: the row gives no observation. */
  demographicsOnly?: true;
  sent: SentEntry;
}

export interface CsvFields {
  patient_id: string;
  code_system: string;
  code: string;
  value: string;
  unit: string;
  effective_start: string;
  effective_end: string;
  /** Optional column: the provider's own id for the row. */
  source_id?: string;
  /** Demographic columns (birth_date, sex: the catalogue's `source.csv`) that are not blank in the row: column -> text. */
  demographics?: Record<string, string>;
}

export type ParsedItem = FhirItem | CsvItem;

/** An entry rejected while parsing, before it became a candidate (bad JSON line, entry without resource, short row). */
export interface RejectedEntry extends EntryError {
  sent?: SentEntry;
}

/**
 * Where a part of a larger file starts, so that refs, pointers and lines count from the start of the file:
 * `firstLine` is the file line of the body's first line (CSV: of the first line after the header),
 * `firstRow` (CSV) the file row number of the body's first data row.
 */
export interface SourcePosition {
  firstLine?: number;
  firstRow?: number;
}

export interface ParseResult<T extends ParsedItem = ParsedItem> {
  kind: 'observation' | 'patient' | 'bundle' | 'ndjson' | 'csv';
  bundleType?: string;
  items: T[];
  /** The upload's top-level Patients (a Bundle's own, or every Patient line of an NDJSON upload). */
  patients: PatientMap;
  /** Every Patient of the upload with an identifier, by the keys later uploads may refer to it with. */
  links: PatientLink[];
  errors: RejectedEntry[];
  /** Entries skipped on purpose because they are neither Observations nor Patients (nor DiagnosticReports in a Bundle). A Patient is an item of its own only when it carries demographics. */
  ignored: Array<{ ref: string; resourceType: string }>;
  /** CSV: the header line as sent (quarantined rows are downloaded under it). */
  csvHeader?: string;
}
