/**
 * Identifier systems HGD itself assigns. Providers may not send them (a provider could otherwise write into
 * another provider's namespace), and none of them is a patient identifier a person can log in with except the
 * provider-scoped CSV one.
 */

/** Every system HGD assigns starts with this; a provider's identifier with such a system is refused. */
export const RESERVED_SYSTEM_PREFIX = 'urn:hgd:';

/** Identifier system for a CSV `patient_id` given without `system|`: the provider's own id, scoped by provider. */
export function csvPatientSystem(provider: string): string {
  return `urn:hgd:csv-patient:${provider}`;
}

/**
 * Systems of identities made up before migration management-002 and never again: a reference-only FHIR subject
 * ('Patient/1', whichever provider sent it) and a plain CSV patient_id (not scoped by provider). Records still stored
 * under them are moved to the right patient when their provider next names that patient (see docs/ingest.md).
 */
export const LEGACY_FHIR_REFERENCE_SYSTEM = 'urn:hgd:fhir-patient-ref';
export const LEGACY_CSV_PATIENT_SYSTEM = 'urn:hgd:csv-patient';

export function isReservedSystem(system: string): boolean {
  return system.trim().toLowerCase().startsWith(RESERVED_SYSTEM_PREFIX);
}

/** True for the systems no patient may log in with: the legacy made-up identities. */
export function isLegacySystem(system: string): boolean {
  return system === LEGACY_FHIR_REFERENCE_SYSTEM || system === LEGACY_CSV_PATIENT_SYSTEM;
}
