import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { ParseError } from '../management-layer/errors';
import { formatForContentType, parseCsv, parseFhirJson, parseNdjson, parseUpload } from '../management-layer/parse/index';
import { referenceKey } from '../management-layer/parse/references';

const fixture = (path: string): string => readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8');
const json = (path: string): Record<string, unknown> => JSON.parse(fixture(path));

describe('parse: FHIR JSON', () => {
  it('a single Observation is one item at the root', () => {
    const body = json('fhir/Observation-example.json');
    const r = parseFhirJson(body);
    assert.equal(r.kind, 'observation');
    assert.equal(r.items.length, 1);
    assert.equal(r.items[0]?.ref, 'resource');
    assert.equal(r.items[0]?.pointer, '');
    assert.equal(r.items[0]?.resource, body);
  });

  it('accepts JSON text and a Buffer (with a BOM)', () => {
    const text = fixture('fhir/Observation-f001.json');
    assert.equal(parseFhirJson(text).items.length, 1);
    assert.equal(parseFhirJson(Buffer.from(`\uFEFF${text}`)).items.length, 1);
  });

  it('a collection Bundle: Observations become items with fullUrl refs and entry pointers', () => {
    const bundle = json('fhir/Bundle-lipids.json');
    const r = parseFhirJson(bundle);
    assert.equal(r.kind, 'bundle');
    assert.equal(r.bundleType, 'collection');
    const entries = bundle.entry as Array<{ fullUrl: string; resource: { resourceType: string } }>;
    const observations = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.resource.resourceType === 'Observation');
    assert.equal(r.items.length, observations.length);
    assert.equal(r.items.length, 4);
    r.items.forEach((item, k) => {
      const { e, i } = observations[k] as (typeof observations)[number];
      assert.equal(item.ref, e.fullUrl);
      assert.equal(item.pointer, `/entry/${i}/resource`);
      assert.equal(item.resource, e.resource);
    });
  });

  it('Observations listed by one DiagnosticReport inherit its subject and effective time', () => {
    const bundle = json('fhir/Bundle-report.json');
    const report = (bundle.entry as Array<{ fullUrl: string; resource: Record<string, unknown> }>)[0];
    assert.equal(report?.resource.resourceType, 'DiagnosticReport');
    const r = parseFhirJson(bundle);
    const wbc = r.items.find((i) => i.ref === 'https://example.com/base/Observation/o1');
    assert.ok(wbc?.inherited);
    assert.equal(wbc.inherited.from, report.fullUrl);
    assert.deepEqual(wbc.inherited.subject, report.resource.subject);
    assert.equal(wbc.inherited.effectiveDateTime, report.resource.effectiveDateTime);
    assert.equal((wbc.resource as Record<string, unknown>).subject, undefined, 'the resource itself is not modified');
    assert.deepEqual(r.ignored, []);
  });

  it('Patients in a Bundle feed the patient map by fullUrl and Patient/id; non-Observations are not items', () => {
    const r = parseFhirJson(json('fhir/Bundle-bundle-references.json'));
    const id = { system: 'http://example.org/ids', value: '1234567' };
    assert.deepEqual(r.patients.get('http://example.org/fhir/Patient/23'), id);
    assert.deepEqual(r.patients.get('Patient/23'), id);
    assert.equal(r.patients.has('Patient/45'), false, 'Patient/45 has no identifier');
    assert.ok(r.items.every((i) => (i.resource as { resourceType: string }).resourceType === 'Observation'));
    assert.equal(r.items.length, 7);
  });

  it('a transaction Bundle: an entry without a resource is an entry error, urn:uuid Patients are keyed', () => {
    const r = parseFhirJson(json('fhir/hgd-transaction-bundle.json'));
    assert.equal(r.bundleType, 'transaction');
    assert.equal(r.items.length, 4);
    assert.deepEqual(r.errors, [{ ref: 'entry[4]', pointer: '/entry/4/resource', reason: 'entry has no resource' }]);
    assert.deepEqual(r.patients.get('urn:uuid:6f1c1f0e-0d5b-4f0e-9a55-2a1f6f2d9c01'), { system: 'http://hospital.example/mrn', value: 'MRN-200' });
  });

  it('accepts batch and searchset Bundles; rejects document, message, history and others clearly', () => {
    const obs = json('fhir/Observation-heart-rate.json');
    for (const type of ['batch', 'searchset', 'collection', 'transaction']) {
      const r = parseFhirJson({ resourceType: 'Bundle', type, entry: [{ resource: obs }] });
      assert.equal(r.items.length, 1);
      assert.equal(r.items[0]?.ref, 'entry[0]');
    }
    for (const type of ['document', 'message', 'history', 'transaction-response', undefined]) {
      assert.throws(() => parseFhirJson({ resourceType: 'Bundle', type, entry: [] }), (e: unknown) =>
        e instanceof ParseError && e.field === '/type' && /is not accepted/.test(e.message) && e.message.includes(String(type ?? 'null')));
    }
  });

  it('rejects what is not an Observation or a Bundle', () => {
    assert.throws(() => parseFhirJson('{not json'), (e: unknown) => e instanceof ParseError && /not valid JSON/.test(e.message));
    assert.throws(() => parseFhirJson([1, 2]), ParseError);
    assert.throws(() => parseFhirJson({ resourceType: 'Patient' }), (e: unknown) => e instanceof ParseError && /got "Patient"/.test(e.message));
    assert.throws(() => parseFhirJson({ resourceType: 'Bundle', type: 'collection', entry: {} }), (e: unknown) => e instanceof ParseError && e.field === '/entry');
  });

  it('resolves relative references against the referring entry’s service base', () => {
    assert.equal(referenceKey('Patient/23', 'http://example.org/fhir-2/Observation/14'), 'http://example.org/fhir-2/Patient/23');
    assert.equal(referenceKey('Patient/45/_history/2', 'http://example.org/fhir/Observation/47'), 'http://example.org/fhir/Patient/45');
    assert.equal(referenceKey('Patient/23', 'urn:uuid:1234'), 'Patient/23');
    assert.equal(referenceKey('urn:uuid:abc', 'http://x.org/Observation/1'), 'urn:uuid:abc');
  });
});

describe('parse: NDJSON', () => {
  it('one candidate per Observation line; a bad line is an error for that line only', () => {
    const text = fixture('ndjson/observations.ndjson');
    const lines = text.split('\n');
    const r = parseNdjson(text);
    assert.equal(r.kind, 'ndjson');
    const expectedObs = lines.flatMap((l, i) => (l.includes('"resourceType":"Observation"') && !l.includes('"broken"') ? [`line ${i + 1}`] : []));
    assert.deepEqual(r.items.map((i) => i.ref), expectedObs);
    assert.equal(r.errors.length, 1);
    const bad = lines.findIndex((l) => l.includes('"broken"')) + 1;
    assert.equal(r.errors[0]?.ref, `line ${bad}`);
    assert.equal(r.errors[0]?.pointer, `/${bad}`);
    assert.match(r.errors[0]?.reason ?? '', /not valid JSON/);
    assert.deepEqual(r.ignored, [{ ref: `line ${lines.findIndex((l) => l.includes('Encounter')) + 1}`, resourceType: 'Encounter' }]);
    assert.deepEqual(r.patients.get('Patient/p1'), { system: 'http://hospital.example/mrn', value: 'MRN-100' });
  });

  it('blank lines and CRLF are fine; non-object lines are errors', () => {
    const r = parseNdjson('\r\n{"resourceType":"Observation","id":"a"}\r\n\r\n[1]\r\n"x"\r\n');
    assert.deepEqual(r.items.map((i) => i.ref), ['line 2']);
    assert.deepEqual(r.errors.map((e) => e.ref), ['line 4', 'line 5']);
  });
});

describe('parse: CSV', () => {
  it('reads the header, BOM, CRLF, quotes and blank lines', () => {
    const r = parseCsv(readFileSync(new URL('./fixtures/csv/observations.csv', import.meta.url)));
    assert.equal(r.kind, 'csv');
    assert.deepEqual(r.errors, []);
    assert.equal(r.items.length, 6);
    assert.deepEqual(r.items.map((i) => i.ref), ['row 1', 'row 2', 'row 3', 'row 4', 'row 5', 'row 6']);
    assert.deepEqual(r.items[0]?.fields, {
      patient_id: 'http://hospital.example/mrn|MRN-001',
      code_system: 'http://loinc.org',
      code: '2345-7',
      value: '100',
      unit: 'mg/dL',
      effective_start: '2024-03-01T08:15:00+01:00',
      effective_end: '',
    });
    assert.equal(r.items[4]?.fields.patient_id, 'http://hospital.example/mrn|SMITH, J');
    assert.equal(r.items[5]?.fields.unit, '[degF]');
  });

  it('columns in any order, extra columns ignored, quoted fields spanning lines', () => {
    const r = parseCsv(fixture('csv/bad-rows.csv'));
    assert.equal(r.items.length, 6);
    assert.equal(r.items[0]?.fields.code, '8310-5');
    assert.equal(r.items[0]?.fields.unit, 'C');
    assert.equal(r.items[5]?.pointer, '/6');
  });

  it('a missing header column is a clear error naming the column', () => {
    assert.throws(() => parseCsv(fixture('csv/missing-column.csv')), (e: unknown) =>
      e instanceof ParseError && /missing required column: unit/.test(e.message) && e.field === '/0/unit');
    assert.throws(() => parseCsv('patient_id,code\nA,1\n'), (e: unknown) =>
      e instanceof ParseError && /columns: code_system, value, unit, effective_start, effective_end/.test(e.message));
    assert.throws(() => parseCsv(''), (e: unknown) => e instanceof ParseError && /empty/.test(e.message));
  });

  it('a row with the wrong number of fields is an error for that row; broken quoting fails the file', () => {
    const header = 'patient_id,code_system,code,value,unit,effective_start,effective_end\n';
    const r = parseCsv(`${header}A,http://loinc.org,8867-4,60,/min,2024-01-01T00:00:00Z,\nB,http://loinc.org,8867-4,60\n`);
    assert.equal(r.items.length, 1);
    assert.deepEqual(r.errors, [{ ref: 'row 2', pointer: '/2', reason: 'row has 4 fields but the header has 7' }]);
    assert.throws(() => parseCsv(`${header}"A,http://loinc.org\n`), ParseError);
  });
});

describe('parse: upload formats', () => {
  it('maps content types and dispatches', () => {
    assert.equal(formatForContentType('application/fhir+json; charset=utf-8'), 'fhir-json');
    assert.equal(formatForContentType('application/fhir+ndjson'), 'ndjson');
    assert.equal(formatForContentType('text/csv'), 'csv');
    assert.equal(formatForContentType('text/plain'), undefined);
    assert.equal(parseUpload('csv', fixture('csv/observations.csv')).items.length, 6);
    assert.throws(() => parseUpload('ndjson', { not: 'text' }), ParseError);
  });
});
