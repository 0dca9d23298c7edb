/** Small builders for care-sharing and monitoring tests. */
export const MRN = 'http://hospital.example/mrn';

const LOINC: Record<string, [string, string]> = {
  heart_rate: ['8867-4', '/min'],
  spo2: ['59408-5', '%'],
  glucose: ['15074-8', 'mmol/L'],
  body_weight: ['29463-7', 'kg'],
};

/** A FHIR R4 Observation of `indicator` for the patient `MRN|mrn`. */
export function observation(id: string, mrn: string, indicator: string, value: number, at: string): Record<string, unknown> {
  const [code, unit] = LOINC[indicator]!;
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { identifier: { system: MRN, value: mrn } },
    effectiveDateTime: at,
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
  };
}

/** An instant on 2025-06-01, 08:00 + `m` minutes UTC (readings in a rule's window). */
export const minute = (m: number): string => new Date(Date.UTC(2025, 5, 1, 8, m)).toISOString();

/** A FHIR collection Bundle of the given resources. */
export function bundle(resources: unknown[]): Record<string, unknown> {
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) };
}

/**
 * Gateway settings for webhook tests: http targets, listening on 127.0.0.1 (allowed explicitly:
 * internal addresses are refused otherwise), fast retries and polling.
 */
export const WEBHOOK_TEST_ENV: Readonly<Record<string, string>> = Object.freeze({ HGD_WEBHOOK_ALLOW_HTTP: '1', HGD_WEBHOOK_ALLOW_HOSTS: '127.0.0.1', HGD_WEBHOOK_RETRY_BASE_MS: '20', HGD_WEBHOOK_POLL_MS: '20' });
