import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { catalogue } from '../management-layer/catalogue';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { startTestGateway, type TestGateway } from './support/gateway';

const fixture = (name: string) => fs.readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const FHIR = 'application/fhir+json';
const MRN = 'http://hospital.example/mrn';
const patient = (id: string, value: string) => JSON.stringify({ resourceType: 'Patient', id, identifier: [{ system: MRN, value }] });
const CSV_HEADER = 'patient_id,code_system,code,value,unit,effective_start,effective_end\n';

describe('ingest (HTTP, end to end)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let acme: string;
  let other: string;

  before(async () => {
    t = await startTestGateway();
    acme = await t.token({ role: 'provider', sub: 'acme-uploader', org: 'acme' });
    other = await t.token({ role: 'provider', sub: 'other-uploader', org: 'other' });
  });
  after(() => t.close());

  const ingest = async (body: string | Buffer, contentType = FHIR, token = acme, headers: Record<string, string> = {}) => {
    if (!Object.keys(headers).length) return t.request('POST', '/ingest', { token, body, contentType });
    const r = await fetch(`${t.url}/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType, ...headers }, body });
    const text = await r.text();
    return { status: r.status, text, body: JSON.parse(text) };
  };
  const count = async (table: string) => Number((await t.gateway.db.knex(table).count<{ c: string | number }[]>('* as c'))[0]!.c);

  it('an Observation whose Patient is known only by reference is rejected, clearly, until its Patient comes', async () => {
    const before = await count('records');
    const r = await ingest(fixture('fhir/Observation-example.json'));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.rejected, r.body.entries.rejected], [0, 1, 1]);
    assert.equal(r.body.errors[0].pointer, '/subject/reference');
    assert.match(r.body.errors[0].reason, /subject "Patient\/example" is not linked to a patient.*send the Patient \(with an identifier\) first/);
    assert.equal(await count('records'), before, 'no record under a made-up patient');

    const linked = await ingest(patient('example', 'MRN-EX'));
    assert.deepEqual([linked.status, linked.body.patientsLinked, linked.body.accepted, linked.body.rejected], [200, 1, 0, 0]);
  });

  it('stores an Observation in [lb_av] as kg once its Patient is linked, and the patient reads it back, decrypted', async () => {
    const r = await ingest(fixture('fhir/Observation-example.json'));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.duplicate, r.body.rejected], [1, 0, 0]);
    assert.deepEqual(r.body.entries, { received: 1, accepted: 1, duplicate: 0, rejected: 0, expanded: 0 });
    const mine = await t.request('GET', '/patients/me/observations?indicator=body_weight', { token: await t.patientToken(MRN, 'MRN-EX') });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.count, 1);
    const obs = mine.body.observations[0];
    assert.deepEqual([obs.indicator, obs.value, obs.unit, obs.effectiveStart], ['body_weight', 83.91, 'kg', '2016-03-28T00:00:00.000Z']);
    assert.deepEqual([obs.provenance.valueAsReceived, obs.provenance.unitAsReceived, obs.provenance.provider], [185, '[lb_av]', 'acme']);
  });

  it('the same upload again is answered from the first: nothing stored, no new batch, no new ledger entry', async () => {
    const first = await ingest(fixture('fhir/Observation-example.json'), FHIR, acme);
    const [batches, ledger] = [await count('ingest_batches'), t.gateway.ledger.size];
    const again = await ingest(fixture('fhir/Observation-example.json'));
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.accepted, again.body.duplicate, again.body.repeated, again.body.batchId], [0, 1, true, first.body.batchId]);
    assert.deepEqual(again.body.entries, { received: 1, accepted: 0, duplicate: 1, rejected: 0, expanded: 0 });
    assert.deepEqual([await count('ingest_batches'), t.gateway.ledger.size], [batches, ledger]);
    assert.deepEqual(again.body.ledger, first.body.ledger, 'the ledger entry of the first');
    const rows = await t.gateway.db.knex('records').where({ indicator: 'body_weight' }).count<{ count: string | number }[]>('* as count');
    assert.equal(Number(rows[0]!.count), 1);
  });

  it('a collection Bundle stores every entry (lipids, LDL in mmol/L under a mass code)', async () => {
    await ingest(patient('pat2', 'MRN-PAT2'));
    const r = await ingest(fixture('fhir/Bundle-lipids.json'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.accepted, 4);
    const ldl = await t.request('GET', '/patients/me/observations?indicator=ldl', { token: await t.patientToken(MRN, 'MRN-PAT2') });
    assert.equal(ldl.body.observations[0].value, 4.6);
  });

  it('a lab Bundle with panels: members stored with the panel\'s time, panels reported as expanded, not rejected', async () => {
    const r = await ingest(fixture('fhir/Bundle-ghp.json'));
    assert.equal(r.status, 200, r.text);
    const e = r.body.entries;
    assert.deepEqual([e.received, e.expanded, e.accepted], [51, 3, 10]);
    assert.equal(e.received, e.accepted + e.duplicate + e.rejected + e.expanded, 'every entry is counted once');
    assert.equal(r.body.notes.length, 3);
    assert.match(r.body.notes[0].note, /^panel expanded: it has no value of its own, its 17 members carry the values \(17 in this upload\)$/);
    assert.ok(!r.body.errors.some((x: { ref: string; reason: string }) => /Observation\/p[123]$/.test(x.ref) || /effective time/.test(x.reason)));
    const hb = await t.request('GET', '/patients/me/observations?indicator=hemoglobin&indicator=platelets', { token: await t.patientToken(MRN, 'MRN-PAT2') });
    assert.deepEqual(hb.body.observations.map((o: { indicator: string }) => o.indicator).sort(), ['hemoglobin', 'platelets'], 'a repeated indicator filters by each');
    assert.equal(hb.body.observations[0].effectiveStart, '2015-08-16T06:40:17.000Z');
  });

  it('a Bundle of Bundles is expanded: every Observation of every inner Bundle is accounted for', async () => {
    const bundle = JSON.parse(fixture('fhir/Bundle-of-bundles-excerpt.json'));
    const held = bundle.entry.flatMap((b: { resource: { entry: Array<{ resource: { resourceType: string } }> } }) => b.resource.entry.filter((x) => x.resource.resourceType === 'Observation')).length;
    const before = await ingest(JSON.stringify(bundle));
    assert.equal(before.body.entries.received, held);
    assert.equal(before.body.entries.rejected, held, 'Patient/1 and Patient/6 are not linked yet');
    await ingest(patient('1', 'MRN-ONE'));
    const r = await ingest(JSON.stringify(bundle));
    const e = r.body.entries;
    assert.equal(e.received, held);
    assert.equal(e.received, e.accepted + e.duplicate + e.rejected + e.expanded);
    assert.ok(e.accepted >= 5, JSON.stringify(e));
    const sodium = await t.request('GET', '/patients/me/observations?indicator=sodium', { token: await t.patientToken(MRN, 'MRN-ONE') });
    assert.equal(sodium.body.observations[0].value, 140);
  });

  it('a transaction Bundle with a bad entry stores nothing, answers 422 and quarantines the reasons', async () => {
    const before = await count('records');
    const r = await ingest(fixture('fhir/hgd-transaction-bundle.json'));
    assert.equal(r.status, 422);
    assert.equal(r.body.status, 'rejected');
    assert.equal(r.body.accepted, 0);
    assert.equal(r.body.entries.rejected, r.body.entries.received, 'no entry of a rejected transaction is stored');
    const bad = r.body.errors.find((e: { ref: string }) => e.ref === 'urn:uuid:6f1c1f0e-0d5b-4f0e-9a55-2a1f6f2d9c03');
    assert.equal(bad.pointer, '/entry/2/resource/valueQuantity/code');
    assert.match(bad.reason, /unit "C" is not accepted for body_temp/);
    assert.equal(await count('records'), before, 'nothing of the transaction was stored');
    const q = await t.request('GET', r.body.quarantine, { token: acme });
    assert.equal(q.status, 200);
    assert.equal(q.body.entries.length, 3);
    const again = await ingest(fixture('fhir/hgd-transaction-bundle.json'));
    assert.deepEqual([again.status, again.body.batchId, again.body.repeated], [422, r.body.batchId, true]);
    assert.equal((await t.request('GET', r.body.quarantine, { token: acme })).body.entries.length, 3, 'quarantined once');
  });

  it('the same entries as a batch store the good ones and quarantine the bad ones, downloadable again', async () => {
    const bundle = JSON.parse(fixture('fhir/hgd-transaction-bundle.json'));
    bundle.type = 'batch';
    const r = await ingest(JSON.stringify(bundle));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual([r.body.accepted, r.body.rejected], [2, 3]);
    const ndjson = await t.request('GET', `${r.body.quarantine}?format=ndjson`, { token: acme });
    assert.equal(ndjson.status, 200);
    const lines = ndjson.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((o) => o.resourceType === 'Observation' && o.valueQuantity?.code === 'C'), 'the rejected Observation comes back as sent');
    const asBundle = await t.request('GET', `${r.body.quarantine}?format=json`, { token: acme });
    assert.deepEqual(asBundle.body.entry, [bundle.entry[2], bundle.entry[4], bundle.entry[5]], 'the rejected entries, exactly as sent, in a Bundle of the batch\'s type');
    assert.equal(asBundle.body.type, 'batch');
    const glucose = await t.request('GET', '/patients/me/observations?indicator=glucose', { token: await t.patientToken(MRN, 'MRN-200') });
    assert.equal(glucose.body.observations[0].value, 5.55);
  });

  it('a provider sees only its own quarantine; another provider\'s batch and an unknown batch are 404', async () => {
    const mine = await t.request('GET', '/quarantine', { token: acme });
    const theirs = await t.request('GET', '/quarantine', { token: other });
    assert.ok(mine.body.entries.length >= 3);
    assert.equal(theirs.body.entries.length, 0);
    const batch = mine.body.entries[0].batchId;
    assert.equal((await t.request('GET', `/quarantine/${batch}`, { token: other })).status, 404);
    const unknown = await t.request('GET', '/quarantine/00000000-0000-4000-8000-000000000000', { token: acme });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.message, /no batch 00000000-0000-4000-8000-000000000000/);
    assert.equal((await t.request('GET', `/quarantine/${batch}?format=xml`, { token: acme })).body.field, 'format');
    assert.equal((await t.request('GET', `/quarantine/${batch}?format=json&format=ndjson`, { token: acme })).body.field, 'format');
  });

  it('the quarantine keeps NDJSON lines and CSV rows exactly as sent and gives them back in their own format', async () => {
    const broken = '{"resourceType":"Observation", "id": "cut-off", ';
    const bad = JSON.stringify({ resourceType: 'Observation', id: 'too-fast', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { identifier: { system: MRN, value: 'MRN-Q' } }, effectiveDateTime: '2024-02-01T10:00:00Z', valueQuantity: { value: 987.6, unit: '/min' } });
    const n = await ingest(`${broken}\n\n  ${bad}\n`, 'application/fhir+ndjson');
    assert.deepEqual(n.body.errors.map((e: { line: number }) => e.line), [1, 3]);
    const lines = await t.request('GET', `${n.body.quarantine}?format=ndjson`, { token: acme });
    assert.equal(lines.text, `${broken}\n  ${bad}\n`, 'byte for byte, the unreadable line included');
    const listed = await t.request('GET', n.body.quarantine, { token: acme });
    assert.deepEqual(listed.body.entries.map((e: { sent: string; entry: unknown }) => [e.sent, e.entry === null]), [[broken, true], [`  ${bad}`, false]]);
    assert.equal((await t.request('GET', `${n.body.quarantine}?format=csv`, { token: acme })).body.field, 'format');

    const rows = `patient_id;code_system;code;value;unit;effective_start;effective_end\r\nQ-1;LN;8867-4;"9\r\n99";/min;2024-02-02T10:00:00Z;\r\nQ-1;LN;8867-4;61;/min;2024-02-03T10:00:00Z;\r\nQ-1;LN;8867-4\r\n`;
    const c = await ingest(rows, 'text/csv');
    assert.deepEqual([c.body.accepted, c.body.errors.map((e: { ref: string; line: number }) => [e.ref, e.line])], [1, [['row 1', 2], ['row 3', 5]]]);
    const csv = await t.request('GET', `${c.body.quarantine}?format=csv`, { token: acme });
    assert.equal(csv.text, 'patient_id;code_system;code;value;unit;effective_start;effective_end\nQ-1;LN;8867-4;"9\r\n99";/min;2024-02-02T10:00:00Z;\nQ-1;LN;8867-4\n');
  });

  it('ingests NDJSON and CSV, reporting bad lines and rows by number', async () => {
    const n = await ingest(fixture('ndjson/observations.ndjson'), 'application/fhir+ndjson');
    assert.equal(n.status, 200, n.text);
    assert.equal(n.body.accepted, 4);
    assert.deepEqual(n.body.errors.map((e: { ref: string; line: number }) => [e.ref, e.line]), [['line 5', 5], ['line 8', 8]]);
    const c = await ingest(fixture('csv/observations.csv'), 'text/csv');
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.accepted, 6);
    const bad = await ingest(fixture('csv/bad-rows.csv'), 'text/csv');
    assert.equal(bad.status, 200);
    assert.ok(bad.body.errors.every((e: { ref: string; pointer: string }) => /^row \d+$/.test(e.ref) && e.pointer.startsWith('/')));
    const missing = await ingest(fixture('csv/missing-column.csv'), 'text/csv');
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /column/);
  });

  it('a part of a file (HGD-First-Line, HGD-First-Row) is numbered from the start of the file, in the answer and the quarantine', async () => {
    const lines = `${fixture('ndjson/observations.ndjson').replaceAll('"hr-1"', '"hr-1-part"').replaceAll('"broken"', '"broken-part"')}`;
    const n = await ingest(lines, 'application/fhir+ndjson', acme, { 'HGD-First-Line': '1001' });
    assert.deepEqual(n.body.errors.map((e: { ref: string; pointer: string; line: number }) => [e.ref, e.pointer.split('/')[1], e.line]), [['line 1005', '1005', 1005], ['line 1008', '1008', 1008]]);
    const q = await t.request('GET', n.body.quarantine, { token: acme });
    assert.deepEqual(q.body.entries.map((e: { ref: string; line: number }) => [e.ref, e.line]), [['line 1005', 1005], ['line 1008', 1008]]);
    const csv = await ingest(`${CSV_HEADER}P-1,LN,8867-4,abc,/min,2024-01-01T00:00:00Z,\n`, 'text/csv', acme, { 'HGD-First-Line': '50', 'HGD-First-Row': '48' });
    assert.deepEqual(csv.body.errors.map((e: { ref: string; pointer: string; line: number }) => [e.ref, e.pointer, e.line]), [['row 48', '/48/value', 50]]);
    const bad = await ingest('x', 'text/csv', acme, { 'HGD-First-Line': '0' });
    assert.deepEqual([bad.status, bad.body.field], [400, 'hgd-first-line']);
  });

  it('CSV with ";" or tab delimiters is read; a header that still does not fit names the delimiter', async () => {
    const semi = await ingest(`${CSV_HEADER.replaceAll(',', ';')}S-1;LN;8867-4;61;/min;2024-07-01T08:00:00Z;\n`, 'text/csv');
    assert.deepEqual([semi.status, semi.body.accepted], [200, 1]);
    const tab = await ingest(`${CSV_HEADER.replaceAll(',', '\t')}S-1\tLN\t8867-4\t62\t/min\t2024-07-01T09:00:00Z\t\n`, 'text/csv');
    assert.deepEqual([tab.status, tab.body.accepted], [200, 1]);
    const pipes = await ingest(`${CSV_HEADER.replaceAll(',', '|')}S-1|LN|8867-4|62|/min|2024-07-01T09:00:00Z|\n`, 'text/csv');
    assert.equal(pipes.status, 400);
    assert.match(pipes.body.message, /read with delimiter "," and has one column; HGD detects ",", ";" and tab/);
  });

  it('CSV rows without source_id are keyed by content: a resend is a duplicate, a new file at the same row is not', async () => {
    const first = await ingest(`${CSV_HEADER}MRN-700,http://loinc.org,8867-4,61,/min,2024-07-01T08:00:00Z,\n`, 'text/csv');
    const second = await ingest(`${CSV_HEADER}MRN-700,http://loinc.org,8867-4,64,/min,2024-07-02T08:00:00Z,\n`, 'text/csv');
    const again = await ingest(`${CSV_HEADER}MRN-700,http://loinc.org,8867-4,61,/min,2024-07-01T08:00:00Z,\n`, 'text/csv');
    assert.deepEqual([first.body.accepted, second.body.accepted, again.body.accepted, again.body.duplicate], [1, 1, 0, 1]);
  });

  it('answers malformed JSON 400, NUL bytes 400 as such, an empty body 400, an unsupported type or charset 415, an over-limit body 413', async () => {
    const malformed = await ingest('{"resourceType": "Observation",');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error, 'malformed_json');
    for (const type of [FHIR, 'text/csv', 'application/fhir+ndjson']) {
      const nul = await ingest(Buffer.alloc(12), type);
      assert.equal(nul.status, 400, type);
      assert.equal(nul.body.field, 'body');
      assert.match(nul.body.message, /12 NUL bytes \(0x00\) and nothing else/);
      const empty = await ingest(' \r\n', type);
      assert.match(empty.body.message, /the request body is empty/);
    }
    assert.equal((await ingest('<xml/>', 'application/xml')).status, 415);
    const latin1 = await ingest(fixture('csv/observations.csv'), 'text/csv; charset=iso-8859-1');
    assert.deepEqual([latin1.status, latin1.body.message], [415, 'charset "iso-8859-1" is not supported: send UTF-8']);
    assert.equal((await ingest('{}')).status, 400);
    const small = await startTestGateway({ HGD_BODY_LIMIT: '2kb' });
    try {
      const token = await small.token({ role: 'provider', sub: 'u', org: 'acme' });
      const big = await small.request('POST', '/ingest', { token, body: fixture('fhir/Bundle-lipids.json'), contentType: FHIR });
      assert.equal(big.status, 413);
      assert.match(big.body.message, /limit/);
    } finally {
      await small.close();
    }
  });

  it('refuses callers without a provider token', async () => {
    assert.equal((await t.request('POST', '/ingest', { body: '{}', contentType: FHIR })).status, 401);
    const patientToken = await t.patientToken(MRN, 'MRN-100');
    assert.equal((await ingest(fixture('fhir/Observation-example.json'), FHIR, patientToken)).status, 403);
    assert.equal((await t.request('POST', '/ingest', { body: '{}', contentType: FHIR, token: 'not-a-jwt' })).status, 401);
  });

  it('patient A cannot read patient B, and bad or repeated filters get 400', async () => {
    const a = await t.patientToken(MRN, 'MRN-100');
    const b = await t.patientToken(MRN, 'MRN-101');
    const mineA = await t.request('GET', '/patients/me/observations', { token: a });
    const mineB = await t.request('GET', '/patients/me/observations', { token: b });
    assert.deepEqual(new Set(mineA.body.observations.map((o: { indicator: string }) => o.indicator)), new Set(['heart_rate', 'bp_systolic', 'bp_diastolic']));
    assert.deepEqual(mineB.body.observations.map((o: { indicator: string }) => o.indicator), ['steps']);
    const aPatient = mineA.body.observations[0].patient;
    assert.ok(mineB.body.observations.every((o: { patient: string }) => o.patient !== aPatient));
    assert.equal((await t.request('GET', '/patients/me/observations?indicator=nope', { token: a })).body.field, 'indicator');
    assert.equal((await t.request('GET', '/patients/me/observations?indicator=heart_rate&indicator=nope', { token: a })).body.field, 'indicator');
    assert.equal((await t.request('GET', '/patients/me/observations?from=yesterday', { token: a })).body.field, 'from');
    const twice = await t.request('GET', '/patients/me/observations?from=2024-05-01&from=2024-06-01', { token: a });
    assert.deepEqual([twice.status, twice.body.field, twice.body.message], [400, 'from', '"from" is given more than once']);
    const two = await t.request('GET', '/patients/me/observations?indicator=heart_rate&indicator=bp_systolic', { token: a });
    assert.deepEqual(two.body.observations.map((o: { indicator: string }) => o.indicator).sort(), ['bp_systolic', 'heart_rate']);
    const window = await t.request('GET', '/patients/me/observations?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z', { token: a });
    assert.equal(window.status, 200);
    assert.equal(window.body.count, 3);
  });

  it('GET /catalogue is public and lists every indicator with its codes, units and range', async () => {
    const r = await t.request('GET', '/catalogue');
    assert.equal(r.status, 200);
    const hr = r.body.indicators.find((i: { name: string }) => i.name === 'heart_rate');
    assert.deepEqual(hr.codes, [{ system: 'http://loinc.org', code: '8867-4' }]);
    assert.equal(hr.canonicalUnit, '/min');
    assert.ok(hr.acceptedUnits.includes('/min'));
    assert.deepEqual(hr.range, { min: 20, max: 300 });
    assert.equal(r.body.indicators.length, catalogue().indicators.length);
    assert.deepEqual(r.body.panels[0].components.map((c: { indicator: string }) => c.indicator).sort(), ['bp_diastolic', 'bp_systolic']);
    assert.deepEqual(r.body.csv.delimiters, [',', ';', 'tab']);
  });

  it('keeps values and identifiers out of the tables in clear (quarantine included), and writes one ledger entry a batch', async () => {
    const rejected = await ingest(JSON.stringify({ ...JSON.parse(fixture('fhir/Observation-heart-rate.json')), subject: { identifier: { system: MRN, value: 'MRN-100' } }, valueQuantity: { value: 987.6, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' } }));
    assert.match(rejected.body.errors[0].reason, /987\.6/, 'the provider is told the value');
    const listed = await t.request('GET', rejected.body.quarantine, { token: acme });
    assert.match(listed.body.entries[0].reason, /987\.6/, 'and sees it in the quarantine');
    const dump = async (table: string) => JSON.stringify(await t.gateway.db.knex.raw(`SELECT string_agg(t::text, '|') AS all FROM (SELECT * FROM ${table}) t`));
    // Times of day (created_at: "18:37:05.551") are dropped first: their fractions of a second would match a value such as 5.55.
    const all = (await Promise.all(['records', 'patients', 'quarantine', 'ingest_batches', 'patient_links'].map(dump))).join('').replace(/\d{2}:\d{2}:\d{2}\.\d+/g, 'TIME');
    for (const secret of ['MRN-100', 'MRN-200', 'Patient/pat2', 'Patient/example', '83.91', '5.55', 'lb_av', '987.6', 'plausible', 'urn:uuid:6f1c']) assert.ok(!all.includes(secret), `${secret} appears in clear`);
    const batches = await t.gateway.db.knex('ingest_batches').select('id', 'ledger_seq');
    for (const b of batches) {
      const entry = await t.gateway.ledger.getEntry(b.ledger_seq);
      assert.equal(JSON.parse(entry.canonical).payload.batchId, b.id);
    }
    assert.equal((await verifyLedger(t.gateway.db)).ok, true);
  });
});
