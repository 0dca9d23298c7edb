/**
 * Purposes of use a grant or a study may name: a small allowed subset of the HL7 v3 PurposeOfUse codes
 * (CodeSystem v3-ActReason), the research-related ones. Displays as in the FHIR R4 code system.
 */
import { ValidationError } from '../../storage-layer/errors';

export const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

export const PURPOSES: Readonly<Record<string, string>> = Object.freeze({
  HRESCH: 'healthcare research',
  BIORCH: 'biomedical research',
  CLINTRCH: 'clinical trial research',
  DSRCH: 'disease specific healthcare research',
  POARCH: 'population origins or ancestry healthcare research',
  TRANSRCH: 'translational healthcare research',
  PUBHLTH: 'public health',
});

/**
 * Purposes of a treatment grant (a provider organisation as grantee): TREAT only. Studies never take
 * it, so a treatment grant cannot count in a research cohort.
 */
export const TREATMENT_PURPOSE = 'TREAT';
const TREATMENT_DISPLAY: Readonly<Record<string, string>> = Object.freeze({ TREAT: 'treatment' });

export interface PurposeCoding {
  system: string;
  code: string;
  display: string;
}

export function purposeCoding(code: string): PurposeCoding {
  return { system: PURPOSE_SYSTEM, code, display: PURPOSES[code] ?? TREATMENT_DISPLAY[code] ?? code };
}

export function isAllowedPurpose(system: unknown, code: unknown): code is string {
  return system === PURPOSE_SYSTEM && typeof code === 'string' && Object.hasOwn(PURPOSES, code);
}

/** A purpose given as a code ("HRESCH") or a coding ({system, code}); returns the code or throws naming `field`. */
export function parsePurpose(raw: unknown, field = 'purpose'): string {
  const allowed = Object.keys(PURPOSES).join(', ');
  if (typeof raw === 'string') {
    if (Object.hasOwn(PURPOSES, raw)) return raw;
    throw new ValidationError(`"${field}" must be one of the PurposeOfUse codes ${allowed} (${PURPOSE_SYSTEM}), got ${JSON.stringify(raw)}`, field);
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const { system, code } = raw as { system?: unknown; code?: unknown };
    if (isAllowedPurpose(system, code)) return code;
    throw new ValidationError(`"${field}" must be a coding of ${PURPOSE_SYSTEM} with one of the codes ${allowed}`, field);
  }
  throw new ValidationError(`"${field}" is required: a PurposeOfUse code (${allowed}) or a coding {system, code}`, field);
}

/** The purpose of a treatment grant: TREAT, as a code or a coding; throws naming `field` otherwise. */
export function parseTreatmentPurpose(raw: unknown, field = 'purpose'): string {
  const code = typeof raw === 'string' ? raw : (raw as { system?: unknown; code?: unknown } | null)?.code;
  const system = typeof raw === 'string' ? PURPOSE_SYSTEM : (raw as { system?: unknown } | null)?.system;
  if (code === TREATMENT_PURPOSE && system === PURPOSE_SYSTEM) return TREATMENT_PURPOSE;
  throw new ValidationError(`"${field}" of a grant to a provider organisation must be ${TREATMENT_PURPOSE} (${PURPOSE_SYSTEM}), got ${JSON.stringify(raw)}`, field);
}
