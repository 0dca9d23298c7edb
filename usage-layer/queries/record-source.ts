/**
 * Patient-reported records in research queries: counted only with `options.includePatientReported`.
 * The gateway tells them apart by `records.provider` (a patient's own upload is `patient:<pseudonym>`,
 * management-layer/patient-source.ts; organisation ids cannot contain ":"), the compute nodes by the
 * `source` their share rows carry (dealt with the record). Both select before the contribution bound
 * and the pairing, so the bound L and the one-to-one pairs are over the counted records only.
 */
import { PATIENT_SOURCE_PREFIX } from '../../management-layer/patient-source';

/** SQL conditions on a `records` alias leaving out patient-reported records, unless they are included. */
export function sourceClauses(q: { includePatientReported: boolean }, alias: string): string[] {
  return q.includePatientReported ? [] : [`${alias}.provider NOT LIKE '${PATIENT_SOURCE_PREFIX}%'`];
}
