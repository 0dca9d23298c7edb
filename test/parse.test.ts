import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { MalformedJsonError, ParseError } from '../management-layer/errors';
import { MAX_BUNDLE_NESTING } from '../management-layer/parse/bundle';
import { detectCsvDelimiter, isBlankRecordText } from '../management-layer/parse/csv-dialect';
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
    assert.deepEqual(r.errors.map(({ sent: _s, ...e }) => e), [{ ref: 'entry[4]', pointer: '/entry/4/resource', reason: 'entry has no resource' }]);
    assert.deepEqual(JSON.parse(r.errors[0]!.sent!.text()), (json('fhir/hgd-transaction-bundle.json').entry as unknown[])[4], 'the entry is kept as sent');
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

  it('a lone Patient is an upload of its own: its id and identifier become links; without an identifier it is an error', () => {
    const r = parseFhirJson({ resourceType: 'Patient', id: 'p9', identifier: [{ system: 'urn:hgd:csv-patient:x', value: 'no' }, { system: 'http://h.example/mrn', value: ' M-9 ' }] });
    assert.equal(r.kind, 'patient');
    assert.deepEqual(r.links, [{ key: 'Patient/p9', identifier: { system: 'http://h.example/mrn', value: 'M-9' } }], 'reserved systems are skipped, values trimmed');
    assert.deepEqual(r.items, []);
    const bare = parseFhirJson({ resourceType: 'Patient', id: 'p9' });
    assert.deepEqual([bare.links, bare.errors.map((e) => e.pointer)], [[], ['/identifier']]);
  });

  it('rejects what is not an Observation, a Patient or a Bundle', () => {
    assert.throws(() => parseFhirJson('{not json'), (e: unknown) => e instanceof MalformedJsonError && /not valid JSON/.test(e.message));
    assert.throws(() => parseFhirJson([1, 2]), ParseError);
    assert.throws(() => parseFhirJson({ resourceType: 'Encounter' }), (e: unknown) => e instanceof ParseError && /got "Encounter"/.test(e.message));
    assert.throws(() => parseFhirJson({ resourceType: 'Bundle', type: 'collection', entry: {} }), (e: unknown) => e instanceof ParseError && e.field === '/entry');
  });

  it('resolves relative references against the referring entry’s service base', () => {
    assert.equal(referenceKey('Patient/23', 'http://example.org/fhir-2/Observation/14'), 'http://example.org/fhir-2/Patient/23');
    assert.equal(referenceKey('Patient/45/_history/2', 'http://example.org/fhir/Observation/47'), 'http://example.org/fhir/Patient/45');
    assert.equal(referenceKey('Patient/23', 'urn:uuid:1234'), 'Patient/23');
    assert.equal(referenceKey('urn:uuid:abc', 'http://x.org/Observation/1'), 'urn:uuid:abc');
  });
});

describe('parse: panels, reports and nested Bundles', () => {
  type Entry = { fullUrl: string; resource: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any

  it('a lab Bundle (ghp): members inherit the panel\'s time and performer, the panel the report\'s subject', () => {
    const bundle = json('fhir/Bundle-ghp.json');
    const entries = bundle.entry as Entry[];
    const r = parseFhirJson(bundle);
    const panel = entries.find((e) => e.resource.id === 'p2')!;
    const report = entries.find((e) => e.resource.resourceType === 'DiagnosticReport')!;
    assert.equal(panel.resource.subject, undefined);
    assert.equal(panel.resource.hasMember.length, 17);
    const hb = r.items.find((i) => i.fullUrl === 'https://example.com/base/Observation/r1')!;
    assert.equal((hb.resource as Record<string, unknown>).effectiveDateTime, undefined, 'the member has no time of its own');
    assert.equal(hb.inherited?.from, panel.fullUrl);
    assert.equal(hb.inherited?.effectiveDateTime, panel.resource.effectiveDateTime);
    assert.deepEqual(hb.inherited?.performer, panel.resource.performer);
    const panelItem = r.items.find((i) => i.fullUrl === panel.fullUrl)!;
    assert.deepEqual(panelItem.panel, { members: 17, inUpload: 17 });
    assert.deepEqual(panelItem.inherited?.subject, report.resource.subject, 'the panel gets its subject from the report listing it');
    assert.equal(r.items.length, 51);
  });

  it('referrers that disagree give nothing; a hasMember cycle does not hang', () => {
    const obs = (id: string, extra: object) => ({ fullUrl: `urn:uuid:${id}`, resource: { resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, ...extra } });
    const r = parseFhirJson({ resourceType: 'Bundle', type: 'collection', entry: [
      obs('a', { hasMember: [{ reference: 'urn:uuid:m' }], effectiveDateTime: '2024-01-01' }),
      obs('b', { hasMember: [{ reference: 'urn:uuid:m' }], effectiveDateTime: '2024-02-01' }),
      obs('m', {}),
      obs('x', { hasMember: [{ reference: 'urn:uuid:y' }] }),
      obs('y', { hasMember: [{ reference: 'urn:uuid:x' }] }),
    ] });
    assert.equal(r.items.find((i) => i.ref === 'urn:uuid:m')?.inherited, undefined);
    assert.equal(r.items.length, 5);
  });

  it('a Bundle of Bundles is expanded: every Observation of every inner Bundle is an item, in its own scope', () => {
    const bundle = json('fhir/Bundle-of-bundles-excerpt.json');
    const inner = bundle.entry as Array<{ fullUrl: string; resource: { entry: Entry[] } }>;
    const expected = inner.flatMap((b) => b.resource.entry.filter((e) => e.resource.resourceType === 'Observation'));
    const r = parseFhirJson(bundle);
    assert.equal(r.items.length, expected.length);
    assert.ok(expected.length > 20);
    assert.deepEqual(r.errors, []);
    const first = r.items[0]!;
    assert.equal(first.pointer, '/entry/0/resource/entry/1/resource');
    assert.equal(first.inherited?.effectiveDateTime, inner[0]!.resource.entry[0]!.resource.effectiveDateTime, 'time from the inner Bundle\'s report');
    assert.notEqual(r.items[r.items.length - 1]!.scope, first.scope, 'each inner Bundle is its own scope');
    const noFullUrl = parseFhirJson({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Observation' } }] } }] });
    assert.equal(noFullUrl.items[0]!.ref, 'entry[0] > entry[0]');
  });

  it('Observations too deep or in a Bundle type HGD does not accept each get their own error; an empty inner Bundle is ignored', () => {
    const obs = { resourceType: 'Observation', id: 'deep' };
    let nested: Record<string, unknown> = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs }, { resource: obs }] };
    for (let i = 0; i <= MAX_BUNDLE_NESTING; i++) nested = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: nested }] };
    const r = parseFhirJson(nested);
    assert.equal(r.items.length, 0);
    assert.equal(r.errors.length, 2);
    assert.match(r.errors[0]!.reason, new RegExp(`nested ${MAX_BUNDLE_NESTING + 1} levels deep; HGD expands Bundles inside Bundles up to ${MAX_BUNDLE_NESTING} levels`));
    const doc = parseFhirJson({ resourceType: 'Bundle', type: 'collection', entry: [
      { fullUrl: 'urn:uuid:doc', resource: { resourceType: 'Bundle', type: 'document', entry: [{ resource: { resourceType: 'Composition' } }, { resource: obs }] } },
      { resource: { resourceType: 'Bundle', type: 'message', entry: [] } },
    ] });
    assert.deepEqual(doc.errors.map((e) => [e.ref, e.pointer]), [['urn:uuid:doc > entry[1]', '/entry/0/resource/entry/1/resource']]);
    assert.match(doc.errors[0]!.reason, /Bundle of type "document" \(urn:uuid:doc\), which HGD does not accept/);
    assert.deepEqual(doc.ignored, [{ ref: 'entry[1]', resourceType: 'Bundle' }]);
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

  it('a part of a file counts lines from its first line; a Bundle line is an error, kept as sent', () => {
    const bundleLine = '{"resourceType":"Bundle","type":"collection","entry":[]}';
    const r = parseNdjson(`{"resourceType":"Observation","id":"a"}\n\n${bundleLine}\n`, { firstLine: 2001 });
    assert.deepEqual(r.items.map((i) => [i.ref, i.pointer, i.line]), [['line 2001', '/2001', 2001]]);
    assert.deepEqual(r.errors.map((e) => [e.ref, e.line, e.sent?.text()]), [['line 2003', 2003, bundleLine]]);
    assert.match(r.errors[0]!.reason, /not a Bundle/);
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
    assert.deepEqual(r.errors.map(({ sent: _s, ...e }) => e), [{ ref: 'row 2', pointer: '/2', line: 3, reason: 'row has 4 fields but the header has 7 (delimiter ",")' }]);
    assert.equal(r.errors[0]!.sent!.text(), 'B,http://loinc.org,8867-4,60', 'the row is kept as sent');
    assert.throws(() => parseCsv(`${header}"A,http://loinc.org\n`), ParseError);
  });
});

describe('parse: CSV delimiters and positions', () => {
  const rows = (d: string) => ['patient_id', 'code_system', 'code', 'value', 'unit', 'effective_start', 'effective_end'].join(d)
    + `\nA${d}LN${d}8867-4${d}60${d}/min${d}2024-01-01T00:00:00Z${d}\n`;

  it('detects ",", ";" and tab from the header and reads the rows with it', () => {
    for (const d of [',', ';', '\t']) {
      const r = parseCsv(rows(d));
      assert.equal(r.items.length, 1, JSON.stringify(d));
      assert.equal(r.items[0]!.fields.value, '60');
    }
    assert.equal(detectCsvDelimiter('"a;b",code;value'), ';');
    assert.equal(detectCsvDelimiter('patient_id;code_system;code,value'), ';', 'the delimiter that yields required columns wins');
    assert.equal(detectCsvDelimiter('x'), ',');
  });

  it('a header that still lacks columns names the delimiter it was read with', () => {
    assert.throws(() => parseCsv('patient_id|code_system|code|value|unit|effective_start|effective_end\n'), (e: unknown) =>
      e instanceof ParseError && /read with delimiter "," and has one column; HGD detects ",", ";" and tab/.test(e.message));
  });

  it('rows and lines count from the start of the file: a quoted field spanning lines, blank rows, an offset', () => {
    const text = 'patient_id,code_system,code,value,unit,effective_start,effective_end\n\n"A\nB",LN,8867-4,60,/min,2024-01-01T00:00:00Z,\n , ,\nC,LN,8867-4,61,/min,2024-01-01T00:00:00Z,\n';
    assert.deepEqual(parseCsv(text).items.map((i) => [i.ref, i.line]), [['row 1', 3], ['row 2', 6]]);
    const part = parseCsv(text, { firstLine: 101, firstRow: 40 });
    assert.deepEqual(part.items.map((i) => [i.ref, i.pointer, i.line]), [['row 40', '/40', 102], ['row 41', '/41', 105]]);
    assert.equal(part.items[0]!.sent.text(), '"A\nB",LN,8867-4,60,/min,2024-01-01T00:00:00Z,');
    assert.equal(part.csvHeader, 'patient_id,code_system,code,value,unit,effective_start,effective_end');
  });

  it('blank rows are blank for the CLI and the gateway alike', () => {
    assert.equal(isBlankRecordText(' , ,', ','), true);
    assert.equal(isBlankRecordText('"",""', ','), true);
    assert.equal(isBlankRecordText('" ";x', ';'), false);
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
