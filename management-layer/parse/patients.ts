/** Patients in an upload: their identifiers, the scopes subjects are looked up in, and the links kept for later uploads. */
import { isReservedSystem } from '../patient-systems';
import { entryKeys, referenceType } from './references';
import type { PatientIdentifier, PatientLink, PatientMap, PatientScope } from './types';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first identifier of a Patient with both system and value (trimmed), skipping systems HGD reserves. */
export function patientIdentifier(patient: unknown): PatientIdentifier | undefined {
  if (!isObject(patient) || !Array.isArray(patient.identifier)) return undefined;
  for (const id of patient.identifier) {
    if (!isObject(id)) continue;
    const system = typeof id.system === 'string' ? id.system.trim() : '';
    const value = typeof id.value === 'string' ? id.value.trim() : '';
    if (system !== '' && value !== '' && !isReservedSystem(system)) return { system, value };
  }
  return undefined;
}

/** Whether a Patient gives a demographic HGD stores (birthDate or gender, either possibly invalid). */
export function hasDemographics(patient: Record<string, unknown>): boolean {
  return patient.birthDate !== undefined || patient.gender !== undefined;
}

/** Collects the Patients of one upload: per-scope maps for subjects, and the links to keep for the provider. */
export class PatientCollector {
  /** key -> identifier, or null when two Patients of the upload give the key different identifiers. */
  private readonly linked = new Map<string, PatientIdentifier | null>();

  /** Adds a Patient to a scope's map under its keys; the first Patient seen under a key wins in that scope. */
  add(patients: PatientMap, resource: Record<string, unknown>, fullUrl: string | undefined): void {
    const identifier = patientIdentifier(resource);
    if (!identifier) return;
    for (const key of entryKeys('Patient', resource.id, fullUrl)) {
      if (!patients.has(key)) patients.set(key, identifier);
      // Only RESTful keys ('Patient/1', 'https://x/fhir/Patient/1') mean something in a later upload; urn:uuid: does not.
      if (referenceType(key) !== 'Patient') continue;
      const known = this.linked.get(key);
      if (known === undefined) this.linked.set(key, identifier);
      else if (known !== null && (known.system !== identifier.system || known.value !== identifier.value)) this.linked.set(key, null);
    }
  }

  links(): PatientLink[] {
    const out: PatientLink[] = [];
    for (const [key, identifier] of this.linked) if (identifier) out.push({ key, identifier });
    return out;
  }
}

/** The identifier a key resolves to in a scope or its enclosing scopes. */
export function lookupPatient(scope: PatientScope | undefined, key: string): PatientIdentifier | undefined {
  for (let s = scope; s; s = s.parent) {
    const found = s.patients.get(key);
    if (found) return found;
  }
  return undefined;
}
