/**
 * Open mHealth data points (https://www.openmhealth.org/documentation/#/schema-docs/schema-library)
 * → FHIR R4 Observations, so a patient's device readings go through the same pipeline, validation
 * and units as any Observation. Supported schemas: omh:heart-rate, omh:step-count,
 * omh:oxygen-saturation, omh:blood-pressure (one panel Observation with both components) and
 * omh:blood-glucose. A data point of another schema becomes an Observation with an
 * `urn:hgd:open-mhealth` code that the normaliser rejects as unknown, so it is quarantined with the
 * rest, under its index `entry[k]`. The device is header.acquisition_provenance.source_name.
 */
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
export const OMH_CODE_SYSTEM = 'urn:hgd:open-mhealth';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Open mHealth unit names → UCUM. */
const UNITS: Readonly<Record<string, string>> = Object.freeze({
  'beats/min': '/min', '%': '%', mmHg: 'mm[Hg]', kPa: 'kPa', 'mg/dL': 'mg/dL', 'mmol/L': 'mmol/L', steps: '{steps}/d',
});

interface Measure {
  /** Property of body holding {value, unit} (or, for step-count 1.0/2.0, a number). */
  property: string;
  loinc: string;
  defaultUnit?: string;
}

const SCHEMAS: Readonly<Record<string, { loinc?: string; measures: Measure[] }>> = Object.freeze({
  'heart-rate': { measures: [{ property: 'heart_rate', loinc: '8867-4' }] },
  'step-count': { measures: [{ property: 'step_count', loinc: '55423-8', defaultUnit: 'steps' }] },
  'oxygen-saturation': { measures: [{ property: 'oxygen_saturation', loinc: '59408-5' }] },
  'blood-glucose': { measures: [{ property: 'blood_glucose', loinc: '15074-8' }] },
  'blood-pressure': { loinc: '85354-9', measures: [{ property: 'systolic_blood_pressure', loinc: '8480-6' }, { property: 'diastolic_blood_pressure', loinc: '8462-4' }] },
});

/** True when `body` looks like one Open mHealth data point or an array of them. */
export function isOpenMhealth(body: unknown): boolean {
  const first = Array.isArray(body) ? body[0] : body;
  return isObject(first) && isObject(first.header) && isObject(first.header.schema_id) && isObject(first.body);
}

export interface OmhConversion {
  /** A FHIR collection Bundle: entry k is data point k. */
  bundle: { resourceType: 'Bundle'; type: 'collection'; entry: Array<{ resource: Obj }> };
  /** The device of each entry (acquisition_provenance.source_name), by Observation id. */
  devices: Map<string, string>;
}

function quantity(raw: unknown, defaultUnit?: string): Obj | undefined {
  const v = isObject(raw) ? raw.value : raw;
  const unitName = isObject(raw) && typeof raw.unit === 'string' ? raw.unit : defaultUnit;
  if (typeof v !== 'number') return undefined;
  const ucum = unitName === undefined ? undefined : (UNITS[unitName] ?? unitName);
  return { value: v, unit: unitName ?? '', ...(ucum ? { system: UCUM, code: ucum } : {}) };
}

function effective(body: Obj): Obj {
  const frame = isObject(body.effective_time_frame) ? body.effective_time_frame : {};
  if (typeof frame.date_time === 'string') return { effectiveDateTime: frame.date_time };
  const interval = isObject(frame.time_interval) ? frame.time_interval : undefined;
  if (interval && typeof interval.start_date_time === 'string') {
    return { effectivePeriod: { start: interval.start_date_time, ...(typeof interval.end_date_time === 'string' ? { end: interval.end_date_time } : {}) } };
  }
  return {};
}

/** One data point → one Observation (the schema name decides the code and where the value is). */
export function dataPointToObservation(point: unknown, k: number): Obj {
  const p = isObject(point) ? point : {};
  const header = isObject(p.header) ? p.header : {};
  const body = isObject(p.body) ? p.body : {};
  const schemaId = isObject(header.schema_id) ? header.schema_id : {};
  const name = typeof schemaId.name === 'string' ? schemaId.name : '';
  const id = typeof header.id === 'string' && header.id !== '' ? header.id : `omh-data-point-${k}`;
  const base = { resourceType: 'Observation', id, status: 'final', ...effective(body) };
  const schema = schemaId.namespace === 'omh' ? SCHEMAS[name] : undefined;
  if (!schema) return { ...base, code: { coding: [{ system: OMH_CODE_SYSTEM, code: `${String(schemaId.namespace)}:${name}:${String(schemaId.version)}` }] } };
  const [single] = schema.measures;
  if (!schema.loinc && single) {
    const vq = quantity(body[single.property], single.defaultUnit);
    return { ...base, code: { coding: [{ system: LOINC, code: single.loinc }] }, ...(vq ? { valueQuantity: vq } : {}) };
  }
  const component = schema.measures.map((m) => ({ code: { coding: [{ system: LOINC, code: m.loinc }] }, valueQuantity: quantity(body[m.property], m.defaultUnit) }));
  return { ...base, code: { coding: [{ system: LOINC, code: schema.loinc }] }, component: component.filter((c) => c.valueQuantity !== undefined) };
}

/** Data points → a collection Bundle of Observations (without subject: the uploader is the patient). */
export function openMhealthToFhir(body: unknown): OmhConversion {
  const points = Array.isArray(body) ? body : [body];
  const devices = new Map<string, string>();
  const entry = points.map((point, k) => {
    const resource = dataPointToObservation(point, k);
    const prov = isObject(point) && isObject(point.header) && isObject(point.header.acquisition_provenance) ? point.header.acquisition_provenance : {};
    if (typeof prov.source_name === 'string' && prov.source_name.trim() !== '') devices.set(resource.id as string, prov.source_name.trim().slice(0, 200));
    return { resource };
  });
  return { bundle: { resourceType: 'Bundle', type: 'collection', entry }, devices };
}
