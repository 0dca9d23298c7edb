import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { draftToRecord, validateIcsRecord, assertIcsRecord, type IcsRecordDraft } from '../management-layer/ics-record';
import { ValidationError } from '../management-layer/errors';
import { LEGACY_CSV_PATIENT_SYSTEM, LEGACY_FHIR_REFERENCE_SYSTEM, csvPatientSystem } from '../management-layer/patient-systems';
import {
  normaliseAll,
  normaliseObservation,
  resolveSubject,
  type NormaliseResult,
} from '../management-layer/normalise';
import { parseCsv, parseFhirJson, parseNdjson } from '../management-layer/parse/index';
import { roundToScale } from '../management-layer/units';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const text = (path: string): string => readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8');
const json = (path: string): Obj => JSON.parse(text(path));
const ctx = { provider: 'test-provider', sourceSystem: 'fhir-examples' };
const utc = (fhirDateTime: string): string => new Date(fhirDateTime).toISOString();
const LB = 0.45359237; // kg per avoirdupois pound
const INCH = 2.54; // cm per international inch

function one(r: NormaliseResult): IcsRecordDraft {
  assert.deepEqual(r.errors, []);
  assert.equal(r.records.length, 1);
  return r.records[0] as IcsRecordDraft;
}

function single(path: string): { obs: Obj; result: NormaliseResult } {
  const obs = json(path);
  return { obs, result: normaliseAll(parseFhirJson(obs), ctx) };
}

describe('normalise: FHIR example fixtures', () => {
  it('body weight: 185 [lb_av] ("lbs") -> kg, date-only time -> start of day UTC', () => {
    const { obs, result } = single('fhir/Observation-example.json');
    const d = one(result);
    assert.equal(obs.valueQuantity.value, 185);
    assert.equal(obs.effectiveDateTime, '2016-03-28');
    assert.equal(d.indicator, 'body_weight');
    assert.equal(d.value, roundToScale(obs.valueQuantity.value * LB, 2));
    assert.equal(d.value, 83.91);
    assert.equal(d.unit, 'kg');
    assert.equal(d.effectiveStart, '2016-03-28T00:00:00.000Z');
    assert.equal(d.effectiveEnd, null);
    // A reference the upload does not resolve is looked up in the provider's links later, never made up.
    assert.deepEqual(d.subject, { reference: obs.subject.reference, linkKeys: [obs.subject.reference] });
    assert.deepEqual(d.legacySubject, { system: LEGACY_FHIR_REFERENCE_SYSTEM, value: obs.subject.reference });
    assert.deepEqual(d.provenance, {
      provider: ctx.provider,
      sourceSystem: ctx.sourceSystem,
      sourceId: obs.id,
      sourceVersion: null,
      code: { system: 'http://loinc.org', code: '29463-7', display: 'Body Weight' },
      valueAsReceived: 185,
      unitAsReceived: '[lb_av]',
    });
  });

  it('glucose f001: mmol/L, effectivePeriod with +01:00 start only', () => {
    const { obs, result } = single('fhir/Observation-f001.json');
    const d = one(result);
    assert.equal(d.indicator, 'glucose');
    assert.equal(d.value, obs.valueQuantity.value);
    assert.equal(d.unit, 'mmol/L');
    assert.equal(d.effectiveStart, utc(obs.effectivePeriod.start));
    assert.equal(d.effectiveStart, '2013-04-02T08:30:10.000Z');
    assert.equal(d.effectiveEnd, null);
  });

  it('hemoglobin f005: effectivePeriod with start and end', () => {
    const { obs, result } = single('fhir/Observation-f005.json');
    const d = one(result);
    assert.equal(d.indicator, 'hemoglobin');
    assert.equal(d.value, obs.valueQuantity.value);
    assert.equal(d.unit, 'g/dL');
    assert.equal(d.effectiveStart, utc(obs.effectivePeriod.start));
    assert.equal(d.effectiveEnd, utc(obs.effectivePeriod.end));
  });

  it('blood-pressure panel 85354-9 gives two drafts, one per known component', () => {
    const { obs, result } = single('fhir/Observation-blood-pressure.json');
    assert.deepEqual(result.errors, []);
    assert.equal(result.records.length, 2);
    const [sys, dia] = result.records as [IcsRecordDraft, IcsRecordDraft];
    assert.equal(sys.indicator, 'bp_systolic');
    assert.equal(sys.value, obs.component[0].valueQuantity.value);
    assert.equal(sys.provenance.code.code, '8480-6');
    assert.equal(dia.indicator, 'bp_diastolic');
    assert.equal(dia.value, obs.component[1].valueQuantity.value);
    assert.equal(dia.provenance.code.code, '8462-4');
    for (const d of result.records) {
      assert.equal(d.unit, 'mm[Hg]');
      assert.equal(d.effectiveStart, '2012-09-17T00:00:00.000Z');
      assert.equal(d.provenance.sourceId, 'blood-pressure');
    }
  });

  it('body temperature: the coded unit Cel wins over the display unit "C"', () => {
    const { obs, result } = single('fhir/Observation-body-temperature.json');
    assert.equal(obs.valueQuantity.unit, 'C');
    const d = one(result);
    assert.equal(d.indicator, 'body_temp');
    assert.equal(d.value, obs.valueQuantity.value);
    assert.equal(d.unit, 'Cel');
    assert.equal(d.provenance.unitAsReceived, 'Cel');
  });

  it('body height in [in_i] and heart rate in /min', () => {
    const h = single('fhir/Observation-body-height.json');
    const dh = one(h.result);
    assert.equal(dh.indicator, 'body_height');
    assert.equal(dh.value, roundToScale(h.obs.valueQuantity.value * INCH, 1));
    assert.equal(dh.value, 169.9);
    const hr = single('fhir/Observation-heart-rate.json');
    const dr = one(hr.result);
    assert.equal(dr.indicator, 'heart_rate');
    assert.equal(dr.value, hr.obs.valueQuantity.value);
    assert.equal(dr.unit, '/min');
  });

  it('a cancelled Observation without a value is rejected with a reason', () => {
    const { result } = single('fhir/Observation-unsat.json');
    assert.equal(result.records.length, 0);
    assert.equal(result.errors.length, 1);
    assert.deepEqual({ ...result.errors[0], reason: undefined }, { ref: 'resource', pointer: '/status', reason: undefined });
    assert.match(result.errors[0]?.reason ?? '', /status "cancelled" is not ingested/);
  });

  it('Bundle report: WBC and platelets in K/ul, subject and time from the DiagnosticReport', () => {
    const bundle = json('fhir/Bundle-report.json');
    const report = bundle.entry[0].resource;
    const r = normaliseAll(parseFhirJson(bundle), ctx);
    const byIndicator = new Map(r.records.map((d) => [d.indicator, d]));
    assert.deepEqual([...byIndicator.keys()].sort(), ['platelets', 'wbc']);
    const o1 = bundle.entry.find((e: Obj) => e.resource.id === 'o1').resource;
    const o3 = bundle.entry.find((e: Obj) => e.resource.id === 'o3').resource;
    assert.equal(o1.valueQuantity.unit, 'K/ul');
    assert.equal(byIndicator.get('wbc')?.value, o1.valueQuantity.value);
    assert.equal(byIndicator.get('wbc')?.unit, '10*9/L');
    assert.equal(byIndicator.get('platelets')?.value, o3.valueQuantity.value);
    for (const d of r.records) {
      assert.equal(d.effectiveStart, utc(report.effectiveDateTime));
      assert.deepEqual(d.subject, { reference: report.subject.reference, linkKeys: [`https://example.com/base/${report.subject.reference}`, report.subject.reference] });
      assert.equal(d.provenance.unitAsReceived, 'K/ul');
      assert.deepEqual(d.provenance.performer, report.performer.map((p: Obj) => p.reference), 'the report\'s performer');
    }
    // Every other Observation is reported against its own entry.
    const o2 = r.errors.find((e) => e.ref === 'https://example.com/base/Observation/o2');
    assert.deepEqual(o2, { ref: 'https://example.com/base/Observation/o2', pointer: '/entry/2/resource/code/coding', reason: 'unknown indicator code (http://loinc.org|20570-8)' });
    assert.equal(r.errors.length, bundle.entry.length - 1 - 2);
  });

  it('Bundle lipids: LDL under a mass LOINC but in mmol/L is accepted; zero-width spaces leave the display', () => {
    const bundle = json('fhir/Bundle-lipids.json');
    const report = bundle.entry[0].resource;
    const r = normaliseAll(parseFhirJson(bundle), ctx);
    assert.deepEqual(r.errors, []);
    const expected: Record<string, string> = { cholesterol: 'chol_total', triglyceride: 'triglycerides', hdlcholesterol: 'hdl', ldlcholesterol: 'ldl' };
    assert.equal(r.records.length, 4);
    for (const d of r.records) {
      const obs = bundle.entry.find((e: Obj) => e.resource.id === d.provenance.sourceId).resource;
      assert.equal(d.indicator, expected[obs.id]);
      assert.equal(d.value, obs.valueQuantity.value);
      assert.equal(d.unit, 'mmol/L');
      assert.equal(d.effectiveStart, utc(report.effectiveDateTime));
      assert.ok(!/\u200B/.test(d.provenance.code.display ?? ''));
    }
    const ldl = r.records.find((d) => d.indicator === 'ldl');
    assert.equal(ldl?.provenance.code.code, '13457-7');
    assert.match(bundle.entry[1].resource.code.coding[0].display, /\u200B/, 'the fixture really has a zero-width space');
    assert.equal(r.records.find((d) => d.indicator === 'chol_total')?.provenance.code.display, 'Cholesterol [Moles/volume] in Serum or Plasma');
  });

  it('a transaction Bundle with bad entries reports each entry’s ref and JSON pointer', () => {
    const bundle = json('fhir/hgd-transaction-bundle.json');
    const r = normaliseAll(parseFhirJson(bundle), ctx);
    const mrn = { system: 'http://hospital.example/mrn', value: 'MRN-200' };
    assert.deepEqual(r.records.map((d) => [d.indicator, d.value, d.unit, d.effectiveStart]), [
      ['glucose', 5.55, 'mmol/L', utc(bundle.entry[1].resource.effectiveDateTime)],
      ['sodium', bundle.entry[3].resource.valueQuantity.value, 'mmol/L', '2024-06-10T11:45:00.000Z'],
    ]);
    for (const d of r.records) assert.deepEqual(d.subject, mrn);
    const byRef = new Map(r.errors.map((e) => [e.ref, e]));
    assert.equal(r.errors.length, 3);
    const temp = byRef.get(bundle.entry[2].fullUrl);
    assert.equal(temp?.pointer, '/entry/2/resource/valueQuantity/code');
    assert.match(temp?.reason ?? '', /unit "C" is not accepted for body_temp/);
    assert.deepEqual(byRef.get('entry[4]'), { ref: 'entry[4]', pointer: '/entry/4/resource', reason: 'entry has no resource' });
    assert.deepEqual(byRef.get(bundle.entry[5].fullUrl), { ref: bundle.entry[5].fullUrl, pointer: '/entry/5/resource/valueQuantity/value', reason: 'must be number' });
  });

  it('Bundle references: subjects resolve by FHIR rules', () => {
    const bundle = json('fhir/Bundle-bundle-references.json');
    const parsed = parseFhirJson(bundle);
    const id = { system: 'http://example.org/ids', value: '1234567' };
    const subjectOf = (fullUrl: string) => {
      const item = parsed.items.find((i) => i.fullUrl === fullUrl);
      assert.ok(item);
      return resolveSubject((item.resource as Obj).subject, item.scope, item.fullUrl);
    };
    const subject = (r: ReturnType<typeof subjectOf>) => (r.ok ? r.subject : r);
    assert.deepEqual(subject(subjectOf('http://example.org/fhir/Observation/123')), id);
    assert.deepEqual(subject(subjectOf('http://example.org/fhir/Observation/124')), id);
    assert.deepEqual(subject(subjectOf('http://example.org/fhir/Observation/48')), id);
    // 'Patient/23' from another server's Observation is that server's Patient/23, not the one in the Bundle.
    assert.deepEqual(subject(subjectOf('http://example.org/fhir-2/Observation/14')), { reference: 'Patient/23', linkKeys: ['http://example.org/fhir-2/Patient/23', 'Patient/23'] });
    assert.deepEqual(subject(subjectOf('http://example.org/fhir/Observation/47')), { reference: 'Patient/45/_history/2', linkKeys: ['http://example.org/fhir/Patient/45', 'Patient/45'] });
    const urn = subjectOf('http://example.org/fhir/Observation/12');
    assert.equal(urn.ok, false);
    // None of them has a value or a time, so none normalises.
    const r = normaliseAll(parsed, ctx);
    assert.equal(r.records.length, 0);
    assert.equal(r.errors.length, parsed.items.length);
  });
});

describe('normalise: NDJSON and CSV fixtures', () => {
  it('NDJSON: values, panel, partial-date period; bad and entered-in-error lines reported per line', () => {
    const lines = text('ndjson/observations.ndjson').split('\n');
    const r = normaliseAll(parseNdjson(text('ndjson/observations.ndjson')), ctx);
    const hr = JSON.parse(lines.find((l) => l.includes('"hr-1"')) as string);
    assert.deepEqual(r.records.map((d) => [d.indicator, d.value, d.unit, d.effectiveStart, d.effectiveEnd]), [
      ['heart_rate', hr.valueQuantity.value, '/min', utc(hr.effectiveDateTime), null],
      ['bp_systolic', 120, 'mm[Hg]', '2024-05-01T05:31:00.000Z', null],
      ['bp_diastolic', 78, 'mm[Hg]', '2024-05-01T05:31:00.000Z', null],
      ['steps', 10234, '{steps}/d', '2024-05-01T00:00:00.000Z', '2024-05-02T00:00:00.000Z'],
    ]);
    assert.equal(r.records[0]?.provenance.sourceVersion, '3');
    assert.deepEqual(r.records[0]?.subject, { system: 'http://hospital.example/mrn', value: 'MRN-100' });
    assert.deepEqual(r.records[3]?.subject, { system: 'http://hospital.example/mrn', value: 'MRN-101' });
    assert.deepEqual(r.errors.map((e) => [e.ref, e.pointer]), [['line 5', '/5'], ['line 8', '/8/status']]);
    assert.match(r.errors[1]?.reason ?? '', /entered-in-error/);
  });

  it('CSV: every row of observations.csv normalises', () => {
    const r = normaliseAll(parseCsv(text('csv/observations.csv')), ctx);
    assert.deepEqual(r.errors, []);
    const local = csvPatientSystem(ctx.provider);
    assert.deepEqual(r.records.map((d) => [d.subject, d.indicator, d.value, d.unit, d.effectiveStart, d.effectiveEnd]), [
      [{ system: 'http://hospital.example/mrn', value: 'MRN-001' }, 'glucose', 5.55, 'mmol/L', '2024-03-01T07:15:00.000Z', null],
      [{ system: local, value: 'MRN-002' }, 'heart_rate', 72, '/min', '2024-03-01T09:00:00.000Z', null],
      [{ system: 'http://hospital.example/mrn', value: 'MRN-001' }, 'hba1c', 6.54, '%', '2024-03-02T00:00:00.000Z', null],
      [{ system: local, value: 'MRN-003' }, 'steps', 8432, '{steps}/d', '2024-03-01T05:00:00.000Z', '2024-03-02T05:00:00.000Z'],
      [{ system: 'http://hospital.example/mrn', value: 'SMITH, J' }, 'body_weight', 83.91, 'kg', '2024-03-03T10:00:00.000Z', null],
      [{ system: local, value: 'MRN-004' }, 'body_temp', 37, 'Cel', '2024-03-04T12:00:00.000Z', null],
    ]);
    assert.equal(local, 'urn:hgd:csv-patient:test-provider', 'a plain patient_id is the provider\'s own: scoped by provider');
    assert.deepEqual(r.records[1]!.legacySubject, { system: LEGACY_CSV_PATIENT_SYSTEM, value: 'MRN-002' });
    assert.match(r.records[0]!.provenance.sourceId, /^csv-sha256:[0-9a-f]{32}$/);
    assert.notEqual(r.records[0]!.provenance.sourceId, r.records[1]!.provenance.sourceId);
    assert.deepEqual(r.records[0]?.provenance, {
      provider: ctx.provider,
      sourceSystem: ctx.sourceSystem,
      sourceId: r.records[0]!.provenance.sourceId,
      sourceVersion: null,
      code: { system: 'http://loinc.org', code: '2345-7' },
      valueAsReceived: '100',
      unitAsReceived: 'mg/dL',
    });
  });

  it('CSV: bad rows are reported with row ref and /N/<column> pointers', () => {
    const r = normaliseAll(parseCsv(text('csv/bad-rows.csv')), ctx);
    assert.equal(r.records.length, 1);
    assert.equal(r.records[0]?.value, 64);
    assert.deepEqual(r.errors.map((e) => [e.ref, e.pointer]), [
      ['row 1', '/1/unit'],
      ['row 2', '/2/code'],
      ['row 3', '/3/value'],
      ['row 4', '/4/effective_start'],
      ['row 5', '/5/patient_id'],
      ['row 5', '/5/value'],
    ]);
    assert.match(r.errors[0]?.reason ?? '', /"C" is not accepted for body_temp/);
    assert.match(r.errors[3]?.reason ?? '', /no time zone/);
  });
});

describe('normalise: edge cases', () => {
  const base = (): Obj => ({
    resourceType: 'Observation',
    id: 'x1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: 'Patient/p' },
    effectiveDateTime: '2024-01-01T10:00:00+05:30',
    valueQuantity: { value: 60, unit: 'bpm' },
  });
  const run = (obs: Obj) => normaliseObservation(obs, { ...ctx, ref: 'r', pointer: '/p' });
  const err = (obs: Obj) => {
    const r = run(obs);
    assert.equal(r.records.length, 0);
    assert.ok(r.errors.length >= 1);
    return r.errors[0] as { ref: string; pointer: string; reason: string };
  };

  it('converts offsets to UTC; partial dates to the start of the period', () => {
    assert.equal(one(run(base())).effectiveStart, '2024-01-01T04:30:00.000Z');
    assert.equal(one(run({ ...base(), effectiveDateTime: '2024-02' })).effectiveStart, '2024-02-01T00:00:00.000Z');
    assert.equal(one(run({ ...base(), effectiveDateTime: '2024' })).effectiveStart, '2024-01-01T00:00:00.000Z');
    const { effectiveDateTime: _e, ...noDt } = base();
    assert.equal(one(run({ ...noDt, effectiveInstant: '2024-01-01T10:00:00.5-02:00' })).effectiveStart, '2024-01-01T12:00:00.500Z');
  });

  it('rejects a date-time without a time zone, impossible dates, two effective[x] and a period ending before it starts', () => {
    const e1 = err({ ...base(), effectiveDateTime: '2024-01-01T10:00:00' });
    assert.equal(e1.pointer, '/p/effectiveDateTime');
    assert.match(e1.reason, /time zone/);
    assert.equal(err({ ...base(), effectiveDateTime: '2023-02-29' }).pointer, '/p/effectiveDateTime');
    assert.equal(err({ ...base(), effectivePeriod: { start: '2024-01-01' } }).pointer, '/p/effectivePeriod');
    const { effectiveDateTime: _e, ...noDt } = base();
    assert.equal(err({ ...noDt, effectivePeriod: { start: '2024-01-02', end: '2024-01-01' } }).pointer, '/p/effectivePeriod/end');
    assert.equal(err({ ...noDt, effectivePeriod: { end: '2024-01-01' } }).pointer, '/p/effectivePeriod/start');
    assert.equal(err(noDt).pointer, '/p/effectiveDateTime');
  });

  it('entered-in-error, data absent, comparator, non-quantity values, no unit', () => {
    assert.match(err({ ...base(), status: 'entered-in-error' }).reason, /entered in error/);
    const { valueQuantity: _v, ...noValue } = base();
    const absent = err({ ...noValue, dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'asked-declined' }] } });
    assert.deepEqual([absent.pointer, absent.reason], ['/p/dataAbsentReason', 'no value: data absent (asked-declined)']);
    assert.equal(err({ ...noValue, valueString: '60' }).pointer, '/p/valueString');
    assert.equal(err(noValue).pointer, '/p/valueQuantity');
    assert.equal(err({ ...base(), valueQuantity: { value: 60, comparator: '<', unit: 'bpm' } }).pointer, '/p/valueQuantity/comparator');
    assert.equal(err({ ...base(), valueQuantity: { value: 60 } }).pointer, '/p/valueQuantity/unit');
    assert.equal(err({ ...base(), valueQuantity: { value: 900, unit: 'bpm' } }).pointer, '/p/valueQuantity/value');
  });

  it('codes: unknown, conflicting, and a panel with only unknown components', () => {
    const unknown = err({ ...base(), code: { coding: [{ system: 'http://loinc.org', code: '11555-0' }] } });
    assert.deepEqual([unknown.pointer, unknown.reason], ['/p/code/coding', 'unknown indicator code (http://loinc.org|11555-0)']);
    assert.match(err({ ...base(), code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }, { system: 'http://loinc.org', code: '9279-1' }] } }).reason, /different indicators/);
    assert.equal(err({ ...base(), code: { coding: [{ system: 'http://snomed.info/sct', code: '364075005' }] } }).pointer, '/p/code/coding');
    const { valueQuantity: _v, ...noValue } = base();
    const panel = { ...noValue, code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] }, component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8478-0' }] }, valueQuantity: { value: 90, unit: 'mmHg' } }] };
    assert.equal(err(panel).pointer, '/p/component');
    const proto = { ...panel, component: [{ code: { coding: [{ system: 'http://loinc.org', code: 'constructor' }] }, valueQuantity: { value: 90, unit: 'mmHg' } }] };
    assert.equal(err(proto).pointer, '/p/component');
  });

  it('a panel keeps the good component and reports the bad one at its pointer', () => {
    const { valueQuantity: _v, ...noValue } = base();
    const r = run({
      ...noValue,
      code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
      component: [
        { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 118, unit: 'mmHg' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8478-0' }] }, valueQuantity: { value: 90, unit: 'mmHg' } },
        { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, dataAbsentReason: { text: 'cuff slipped' } },
      ],
    });
    assert.deepEqual(r.records.map((d) => [d.indicator, d.value]), [['bp_systolic', 118]]);
    assert.deepEqual(r.errors, [{ ref: 'r', pointer: '/p/component/2/dataAbsentReason', reason: 'no value: data absent (cuff slipped)' }]);
  });

  it('subjects: identifier, non-Patient references, missing subject, no id', () => {
    const d = one(run({ ...base(), subject: { identifier: { system: 'urn:oid:1.2.3', value: ' 42 ' } } }));
    assert.deepEqual(d.subject, { system: 'urn:oid:1.2.3', value: '42' });
    assert.match(err({ ...base(), subject: { reference: 'Group/g1' } }).reason, /must be a Patient/);
    assert.equal(err({ ...base(), subject: undefined }).pointer, '/p/subject');
    assert.equal(err({ ...base(), subject: { display: 'Someone' } }).pointer.startsWith('/p/subject'), true);
    const { id: _id, ...noId } = base();
    assert.equal(err(noId).pointer, '/p/id');
    assert.equal(one(normaliseObservation(noId, { ...ctx, ref: 'r', pointer: '', fullUrl: 'https://x.org/fhir/Observation/9' })).provenance.sourceId, 'https://x.org/fhir/Observation/9');
  });

  it('a panel without a value of its own is expanded, not rejected; one with a value is an Observation like any', () => {
    const { valueQuantity: _v, ...noValue } = base();
    const panel = { ...noValue, code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] }, hasMember: [{ reference: 'Observation/a' }, { reference: 'Observation/b' }] };
    const r = normaliseObservation(panel, { ...ctx, ref: 'r', pointer: '/p', panel: { members: 2, inUpload: 1 } });
    assert.deepEqual(r, { records: [], errors: [], expanded: { members: 2, inUpload: 1 } });
    assert.deepEqual(run({ ...panel, subject: undefined }).expanded, { members: 2, inUpload: 0 }, 'a panel needs no subject or time: it holds no value');
    assert.match(err({ ...base(), hasMember: [{ reference: 'Observation/a' }], code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] } }).reason, /unknown indicator code/);
  });

  it('lab Bundle ghp: members take the time and performer of their panel; the panels are expanded', () => {
    const bundle = json('fhir/Bundle-ghp.json');
    const r = normaliseAll(parseFhirJson(bundle), ctx);
    const panel = bundle.entry.find((e: Obj) => e.resource.id === 'p2').resource;
    const hb = r.records.find((d) => d.indicator === 'hemoglobin')!;
    assert.equal(hb.effectiveStart, utc(panel.effectiveDateTime));
    assert.deepEqual(hb.provenance.performer, panel.performer.map((p: Obj) => p.reference));
    assert.deepEqual(new Set(r.records.map((d) => d.indicator)), new Set(['hemoglobin', 'platelets', 'wbc', 'sodium', 'potassium', 'glucose', 'creatinine', 'alt', 'ast', 'albumin']));
    assert.equal(r.entries.filter((e) => e.expanded).length, 3);
    assert.ok(!r.errors.some((e) => /effective time is required/.test(e.reason)), 'no member lacks its time');
    assert.equal(r.entries.length, 51);
    assert.ok(r.entries.every((e) => e.records.length > 0 || e.errors.length > 0 || e.expanded), 'every entry has an outcome');
  });

  it('identifier systems HGD reserves are refused from providers (subject.identifier, CSV patient_id)', () => {
    const e = err({ ...base(), subject: { identifier: { system: 'urn:hgd:csv-patient:other-org', value: 'MRN-1' } } });
    assert.equal(e.pointer, '/p/subject/identifier/system');
    assert.match(e.reason, /reserved for identities HGD assigns/);
    assert.match(err({ ...base(), subject: { reference: 'Patient/p', identifier: { system: 'URN:HGD:fhir-patient-ref', value: 'Patient/p' } } }).reason, /reserved/);
    const csv = normaliseAll(parseCsv('patient_id,code_system,code,value,unit,effective_start,effective_end\nurn:hgd:csv-patient:other|7,LN,8867-4,60,/min,2024-01-01T00:00:00Z,\n'), ctx);
    assert.deepEqual(csv.errors.map((x) => x.pointer), ['/1/patient_id']);
  });

  it('performer: the Observation\'s own, as references, identifiers or names', () => {
    const d = one(run({ ...base(), performer: [{ reference: 'Practitioner/1' }, { identifier: { system: 'urn:x', value: '7' } }, { display: ' Lab ' }, {}] }));
    assert.deepEqual(d.provenance.performer, ['Practitioner/1', 'urn:x|7', 'Lab']);
  });

  it('not an object, wrong resourceType, schema errors carry ajv pointers', () => {
    assert.equal(err(42 as unknown as Obj).pointer, '/p');
    assert.equal(err({ ...base(), resourceType: 'Patient' }).pointer, '/p/resourceType');
    assert.equal(err({ ...base(), status: 'done' }).pointer, '/p/status');
    const missing = err({ ...base(), code: {} });
    assert.deepEqual([missing.pointer, missing.reason], ['/p/code/coding', 'is required']);
  });
});

describe('ICS record validation', () => {
  const draft = one(normaliseAll(parseFhirJson(json('fhir/Observation-f001.json')), ctx));
  const record = draftToRecord(draft, 'ab'.repeat(32));

  it('accepts a normalised record after pseudonymisation', () => {
    assert.deepEqual(validateIcsRecord(record), []);
    assert.equal('subject' in record, false);
    assertIcsRecord(record);
  });

  it('rejects raw identifiers, local times, wrong units, implausible values, extra fields', () => {
    const bad = (patch: Obj) => validateIcsRecord({ ...record, ...patch });
    assert.equal(bad({ patient: 'MRN-001' })[0]?.pointer, '/patient');
    assert.equal(bad({ effectiveStart: '2013-04-02T09:30:10+01:00' })[0]?.pointer, '/effectiveStart');
    assert.equal(bad({ unit: 'mg/dL' })[0]?.pointer, '/unit');
    assert.equal(bad({ value: 99 })[0]?.pointer, '/value');
    assert.equal(bad({ value: 6.123 })[0]?.pointer, '/value');
    assert.equal(bad({ indicator: 'shoe_size' })[0]?.pointer, '/indicator');
    assert.equal(bad({ effectiveEnd: '2000-01-01T00:00:00.000Z' })[0]?.pointer, '/effectiveEnd');
    assert.equal(bad({ subject: draft.subject })[0]?.pointer, '/subject');
    assert.throws(() => assertIcsRecord({ ...record, value: '6.3' }), (e: unknown) => e instanceof ValidationError && e.field === '/value');
  });
});
