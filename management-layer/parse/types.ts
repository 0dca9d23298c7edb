/** Shapes shared by the parsers and the normaliser. */

/** One problem with one entry of an upload. `pointer` is a JSON pointer into the upload (see schema/README.md). */
export interface EntryError {
  ref: string;
  pointer: string;
  reason: string;
}

export interface PatientIdentifier {
  system: string;
  value: string;
}

/** Patient identifiers found in an upload, keyed by 'Patient/<id>' and by the entry's fullUrl. */
export type PatientMap = Map<string, PatientIdentifier>;

/**
 * Context an Observation inherits from the one DiagnosticReport in the same Bundle that lists it in result[],
 * used only for elements the Observation itself lacks (subject, effective[x]).
 */
export interface InheritedContext {
  /** ref of the DiagnosticReport entry. */
  from: string;
  /** fullUrl of the DiagnosticReport, against which its subject reference resolves. */
  fullUrl?: string;
  subject?: unknown;
  effectiveDateTime?: unknown;
  effectivePeriod?: unknown;
  effectiveInstant?: unknown;
}

/** A candidate FHIR Observation with its location in the upload. */
export interface FhirItem {
  kind: 'fhir';
  /** 'entry[3]', the entry's fullUrl, 'line 7' or 'resource'. */
  ref: string;
  /** JSON pointer of the resource in the upload, e.g. '/entry/3/resource' ('' for a lone Observation). */
  pointer: string;
  fullUrl?: string;
  resource: unknown;
  inherited?: InheritedContext;
}

/** One CSV data row; `row` counts data rows from 1 (the header is not counted). */
export interface CsvItem {
  kind: 'csv';
  ref: string;
  pointer: string;
  row: number;
  fields: CsvFields;
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
}

export type ParsedItem = FhirItem | CsvItem;

export interface ParseResult<T extends ParsedItem = ParsedItem> {
  kind: 'observation' | 'bundle' | 'ndjson' | 'csv';
  bundleType?: string;
  items: T[];
  patients: PatientMap;
  /** Entries that could not even be turned into candidates (bad JSON line, entry without resource, short CSV row). */
  errors: EntryError[];
  /** Entries skipped on purpose because they are neither Observations nor Patients (nor DiagnosticReports in a Bundle). */
  ignored: Array<{ ref: string; resourceType: string }>;
}
