import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { getIndicator } from '../management-layer/catalogue';
import { domainOf } from '../usage-layer/queries/quantile-plan';
import { reconstruct } from '../mpc/shamir';
import { normaliseAll } from '../management-layer/normalise';
import { parseCsv, parseFhirJson, parseNdjson } from '../management-layer/parse';
import { bodyOf, type Chunk } from '../cli/ingest/send';
import { createCoordinator, type Coordinator } from '../usage-layer/coordinator';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { startTestStack, type TestStack } from './support/cluster';
import { uniformity } from './support/mpc';

const MRN = 'http://hospital.example/mrn';
/** The FHIR R4 example Patient (hl7.fhir.r4.examples 4.0.1, CC0): urn:oid:1.2.36.146.595.217.0.1|12345, male, born 1974-12-25. */
const EXAMPLE = fs.readFileSync(new URL('./fixtures/fhir/Patient-example.json', import.meta.url), 'utf8');
const EXAMPLE_ID = { system: 'urn:oid:1.2.36.146.595.217.0.1', value: '12345' };
const ctx = { provider: 'clinic', sourceSystem: 'clinic', receivedAt: '2026-12-02T06:00:00.000Z' };

const patient = (id: string, extra: Record<string, unknown>) => ({ resourceType: 'Patient', id, identifier: [{ system: MRN, value: id }], ...extra });
const bundle = (resources: unknown[], type = 'collection') => JSON.stringify({ resourceType: 'Bundle', type, entry: resources.map((resource) => ({ resource })) });

describe('demographics: parse and normalise (no database)', () => {
  it('a Patient gives birth_year and sex; a birth date is kept to the month and stored as its year', () => {
    const up = normaliseAll(parseFhirJson(EXAMPLE), ctx);
    assert.deepEqual(up.errors, []);
    const byName = new Map(up.records.map((r) => [r.indicator, r]));
    assert.equal(byName.get('birth_year')?.value, 1974);
    assert.equal(byName.get('birth_year')?.provenance.valueAsReceived, '1974-12', 'the day is dropped (data minimisation)');
    assert.equal(byName.get('sex')?.value, 2);
    assert.equal(byName.get('sex')?.provenance.valueAsReceived, 'male');
    assert.deepEqual(byName.get('sex')?.subject, EXAMPLE_ID, "stored under the Patient's own identifier");
    assert.equal(byName.get('sex')?.effectiveStart, ctx.receivedAt, 'no meta.lastUpdated: the upload time');
    assert.equal(byName.get('sex')?.unit, '1');
    assert.ok(!JSON.stringify(up.records).includes('12-25') && !JSON.stringify(up.records).includes('14:35'), 'neither the day nor the birthTime extension is kept');
  });

  it('meta.lastUpdated is the effective time; the four administrative-gender codes map to 0..3', () => {
    const codes = { unknown: 0, female: 1, male: 2, other: 3 };
    for (const [gender, code] of Object.entries(codes)) {
      const up = normaliseAll(parseFhirJson(JSON.stringify(patient('p1', { gender, meta: { lastUpdated: '2025-03-04T10:00:00+01:00' } }))), ctx);
      assert.equal(up.records[0]?.value, code, gender);
      assert.equal(up.records[0]?.effectiveStart, '2025-03-04T09:00:00.000Z');
    }
    const year = normaliseAll(parseFhirJson(JSON.stringify(patient('p2', { birthDate: '1950' }))), ctx).records[0];
    assert.equal(year?.value, 1950);
    assert.equal(year?.provenance.valueAsReceived, '1950');
  });

  it('invalid values are per-field errors that name the field; the other demographic is still stored', () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ birthDate: '1974-13-01', gender: 'female' }, '/birthDate', /not a FHIR date/],
      [{ birthDate: '1974-02-30', gender: 'female' }, '/birthDate', /not a calendar date/],
      [{ birthDate: '1974-02-03T10:00:00Z', gender: 'female' }, '/birthDate', /not a FHIR date/],
      [{ birthDate: '2027-01', gender: 'female' }, '/birthDate', /after the upload/],
      [{ birthDate: '1850-01-01', gender: 'female' }, '/birthDate', /outside the plausible range 1900 to 2030/],
      [{ birthDate: '1974-12-25', gender: 'M' }, '/gender', /not a FHIR administrative-gender code \(unknown, female, male, other\)/],
      [{ birthDate: '1974-12-25', gender: 'Female' }, '/gender', /administrative-gender/],
      [{ birthDate: '1974-12-25', gender: 2 }, '/gender', /administrative-gender/],
    ];
    for (const [fields, pointer, reason] of cases) {
      const up = normaliseAll(parseFhirJson(bundle([patient('p', fields)])), ctx);
      assert.equal(up.errors.length, 1, JSON.stringify(fields));
      assert.equal(up.errors[0]?.pointer, `/entry/0/resource${pointer}`, JSON.stringify(fields));
      assert.match(up.errors[0]!.reason, reason);
      assert.equal(up.records.length, 1, `${JSON.stringify(fields)}: the valid one is kept`);
    }
    const noId = normaliseAll(parseFhirJson(JSON.stringify({ resourceType: 'Patient', birthDate: '1980', identifier: [{ system: 'urn:hgd:csv-patient:x', value: '1' }] })), ctx);
    assert.equal(noId.records.length, 0);
    assert.equal(noId.errors[0]?.pointer, '/identifier');
    assert.match(noId.errors[0]!.reason, /stored under its identifier/);
    const badTime = normaliseAll(parseFhirJson(JSON.stringify(patient('p', { gender: 'male', meta: { lastUpdated: 'yesterday' } }))), ctx);
    assert.equal(badTime.errors[0]?.pointer, '/meta/lastUpdated');
  });

  it('a Patient without birthDate or gender is not an entry (it only links), as before', () => {
    const parsed = parseFhirJson(bundle([patient('p', {})]));
    assert.equal(parsed.items.length, 0);
    assert.equal(parsed.links.length, 1);
  });

  it('CSV: birth_date and sex columns beside an observation, or a demographics file of patient_id, birth_date, sex', () => {
    const long = parseCsv('patient_id,code_system,code,value,unit,effective_start,effective_end,birth_date,sex\nP1,LN,8867-4,70,/min,2024-01-01T00:00:00Z,,1960-05-17,F\nP2,,,,,,,1970,male\n');
    const up = normaliseAll(long, ctx);
    assert.deepEqual(up.errors.filter((e) => !/sex/.test(e.pointer)), []);
    assert.match(up.errors[0]!.reason, /"F" is not a FHIR administrative-gender code/, 'F is not a code');
    assert.equal(up.errors[0]?.pointer, '/1/sex');
    assert.deepEqual(up.records.map((r) => [r.indicator, r.value]), [['heart_rate', 70], ['birth_year', 1960], ['birth_year', 1970], ['sex', 2]]);
    const only = normaliseAll(parseCsv('patient_id;birth_date;sex\nP1;1960-05;Female\nP2;;\nP3;1960-99;other\n'), ctx);
    assert.deepEqual(only.records.map((r) => [r.indicator, r.value, r.provenance.valueAsReceived]), [['birth_year', 1960, '1960-05'], ['sex', 1, 'female'], ['sex', 3, 'other']]);
    assert.deepEqual(only.errors.map((e) => [e.pointer, e.line]), [['/2/birth_date', 3], ['/3/birth_date', 4]]);
    assert.match(only.errors[0]!.reason, /gives none of birth_date, sex/);
    assert.throws(() => parseCsv('patient_id,code\nP1,x\n'), /a demographics file has patient_id and birth_date and\/or sex only/);
  });
});

describe('demographics end to end (gateway + 3 compute nodes)', function () {
  this.timeout(120_000);
  let s: TestStack;
  let researcher: string;
  let exact: Coordinator;

  const ingest = async (body: string, contentType: string) => {
    const r = await s.request('POST', '/ingest?report=entries', { token: s.provider, body, contentType });
    assert.ok(r.status === 200, r.text);
    return r.body;
  };
  const token = (v: string) => s.patientToken(MRN, v);
  const read = async (t: string) => (await s.request('GET', '/patients/me/observations?indicator=birth_year&indicator=sex', { token: t })).body;
  const grant = async (v: string, indicators: string[]) => {
    const r = await s.request('POST', '/patients/me/grants', { token: await token(v), body: JSON.stringify({ study: 'demo', indicators, purpose: 'HRESCH' }), contentType: 'application/json' });
    assert.equal(r.status, 201, r.text);
  };
  const query = async (body: Record<string, unknown>) => {
    const r = await s.request('POST', '/queries', { token: researcher, body: JSON.stringify({ study: 'demo', options: { epsilon: 20 }, ...body }), contentType: 'application/json' });
    assert.equal(r.status, 202, r.text);
    return s.waitForQuery(r.body.id, researcher);
  };
  const nodeShares = async (node: number, indicator: string) => {
    const r = await s.cluster.nodes[node - 1]!.db.knex.raw('SELECT record_id, share::text AS share FROM node_shares WHERE indicator = ? ORDER BY record_id', [indicator]);
    return (r.rows as Array<{ record_id: string; share: string }>).map((x) => ({ id: x.record_id, share: BigInt(x.share) }));
  };

  before(async function () {
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '100000', HGD_STUDY_MAX_CONTRIBUTIONS: '5' } });
    researcher = await s.token({ role: 'researcher', sub: 'r-demo' });
    const study = await s.request('POST', '/admin/studies', { token: s.admin, body: JSON.stringify({ id: 'demo', title: 'Demographics', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000 }), contentType: 'application/json' });
    assert.equal(study.status, 201, study.text);
    await s.request('POST', '/admin/studies/demo/researchers', { token: s.admin, body: JSON.stringify({ researcher: 'r-demo' }), contentType: 'application/json' });
    exact = createCoordinator(s.cluster.config, loadOrCreateSigningKey(s.cluster.config.nodes.gatewayKeyFile));
  });
  after(async () => s?.close());

  it('GET /catalogue lists birth_year and sex as demographics: no LOINC code, no unit, where they are read from', async () => {
    const r = await s.request('GET', '/catalogue');
    const sex = r.body.indicators.find((i: { name: string }) => i.name === 'sex');
    const year = r.body.indicators.find((i: { name: string }) => i.name === 'birth_year');
    assert.deepEqual([sex.kind, sex.codes, sex.canonicalUnit, sex.source], ['demographic', [], null, { fhir: 'Patient.gender', csv: 'sex' }]);
    assert.deepEqual(sex.valueCodes, { unknown: 0, female: 1, male: 2, other: 3 });
    assert.deepEqual(sex.histogramEdges, [0, 1, 2, 3, 4]);
    assert.deepEqual([year.kind, year.scale, year.valueType, year.source.fhir], ['demographic', 0, 'integer', 'Patient.birthDate']);
    assert.equal(r.body.indicators.find((i: { name: string }) => i.name === 'heart_rate').kind, 'measurement');
    assert.deepEqual(r.body.csv.demographicColumns, { birth_date: 'birth_year', sex: 'sex' });
  });

  it('the FHIR example Patient: stored encrypted, shared to the nodes (shares only), read back by the patient', async () => {
    const a = await ingest(EXAMPLE, 'application/fhir+json');
    assert.deepEqual([a.accepted, a.rejected, a.entries.received, a.entries.accepted, a.patientsLinked], [2, 0, 1, 1, 1]);
    const me = await read(await s.patientToken(EXAMPLE_ID.system, EXAMPLE_ID.value));
    const mine = new Map(me.observations.map((r: { indicator: string }) => [r.indicator, r]));
    assert.deepEqual([(mine.get('birth_year') as { value: number }).value, (mine.get('sex') as { value: number }).value], [1974, 2]);
    assert.equal((mine.get('birth_year') as { provenance: { sourceId: string } }).provenance.sourceId, 'Patient/example');
    // The gateway's tables hold no value in clear; the nodes hold a share each, which two of them reconstruct.
    const rows = (await s.gateway.db.knex('records').whereIn('indicator', ['birth_year', 'sex']).select('id', 'indicator', 'body', 'shared_at')) as Array<{ id: string; indicator: string; body: Buffer; shared_at: Date | null }>;
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.shared_at !== null), 'every node holds them');
    const dump = JSON.stringify(await s.gateway.db.knex.raw("SELECT string_agg(t::text, '|') AS all FROM (SELECT * FROM records) t"));
    for (const secret of ['1974-12', 'male', 'urn:oid']) assert.ok(!dump.includes(secret), `${secret} in clear in records`);
    for (const r of rows) {
      const shares = await Promise.all([1, 2, 3].map(async (n) => (await nodeShares(n, r.indicator)).find((x) => x.id === r.id)!.share));
      const value = r.indicator === 'sex' ? 2n : 1974n;
      assert.ok(shares.every((sh) => sh !== value), 'no node holds the value');
      assert.equal(reconstruct([{ x: 1, y: shares[0]! }, { x: 2, y: shares[1]! }], 1), value);
      assert.equal(reconstruct([{ x: 2, y: shares[1]! }, { x: 3, y: shares[2]! }], 1), value);
    }
  });

  it('the same Patient again is a repeat (no ledger entry); a new version with the same values stores nothing; a changed gender is a newer record', async () => {
    const ledger = s.gateway.ledger.size;
    const again = await ingest(EXAMPLE, 'application/fhir+json');
    assert.deepEqual([again.repeated, again.accepted, again.duplicate, s.gateway.ledger.size], [true, 0, 2, ledger]);
    const doc = JSON.parse(EXAMPLE);
    const sameValues = await ingest(JSON.stringify({ ...doc, meta: { versionId: '2', lastUpdated: '2026-01-01T00:00:00Z' }, birthDate: '1974-12-31' }), 'application/fhir+json');
    assert.deepEqual([sameValues.accepted, sameValues.duplicate, sameValues.entries.duplicate], [0, 2, 1]);
    const changed = await ingest(JSON.stringify({ ...doc, gender: 'other' }), 'application/fhir+json');
    assert.deepEqual([changed.accepted, changed.duplicate], [1, 1]);
    const me = await read(await s.patientToken(EXAMPLE_ID.system, EXAMPLE_ID.value));
    assert.deepEqual(me.observations.filter((r: { indicator: string }) => r.indicator === 'sex').map((r: { value: number }) => r.value), [2, 3], 'both kept, in time order');
  });

  it('a Bundle, NDJSON and CSV columns all store demographics; invalid ones are quarantined with their reasons', async () => {
    const b = await ingest(bundle([
      patient('D01', { birthDate: '1941-07-02', gender: 'female' }), patient('D02', { birthDate: '1952', gender: 'male' }),
      patient('D03', { birthDate: 'long ago', gender: 'female' }),
    ]), 'application/fhir+json');
    assert.deepEqual([b.accepted, b.rejected, b.entries.accepted], [5, 1, 3]);
    assert.deepEqual(b.errors.map((e: { pointer: string }) => e.pointer), ['/entry/2/resource/birthDate']);
    const n = await ingest([patient('D04', { birthDate: '1963-03-03', gender: 'male' }), patient('D05', { gender: 'F' }), patient('D06', { birthDate: '1985-11', gender: 'female' })].map((p) => JSON.stringify(p)).join('\n'), 'application/fhir+ndjson');
    assert.deepEqual([n.accepted, n.rejected], [4, 1]);
    assert.deepEqual(n.errors.map((e: { ref: string; pointer: string }) => [e.ref, e.pointer]), [['line 2', '/2/gender']]);
    const rows = ['D07,1990-01-09,female', 'D08,1999,male', 'D09,2001-06,female', 'D10,1975,male', 'D11,1968,female', 'D12,1979,male', 'D13,2200,female'];
    const c = await ingest(`patient_id,birth_date,sex\n${rows.map((r) => `${MRN}|${r}`).join('\n')}\n`, 'text/csv');
    assert.deepEqual([c.accepted, c.rejected, c.entries.accepted], [13, 1, 7]);
    assert.match(c.errors[0].reason, /birth_date: birth date 2200 is after the upload/);
    const q = await s.request('GET', '/quarantine', { token: s.provider });
    const reasons = q.body.entries.map((e: { reason: string }) => e.reason).join('\n');
    for (const r of [/birthDate: "long ago" is not a FHIR date/, /gender: "F" is not a FHIR administrative-gender code/, /after the upload/]) assert.match(reasons, r);
    assert.equal((await read(await token('D06'))).observations.find((r: { indicator: string }) => r.indicator === 'birth_year').provenance.valueAsReceived, '1985-11');
  });

  it('a histogram of sex (edges 0..4) and of birth_year by decade counts only patients who granted them, the latest value each', async () => {
    // D01..D10 grant both; D11 grants birth_year only; D12 and D13 nothing. D02 later becomes "other".
    for (let i = 1; i <= 10; i++) await grant(`D${String(i).padStart(2, '0')}`, ['birth_year', 'sex']);
    await grant('D11', ['birth_year']);
    const later = await ingest(JSON.stringify(patient('D02', { gender: 'other', meta: { lastUpdated: '2030-01-01T00:00:00Z' } })), 'application/fhir+json');
    assert.equal(later.accepted, 1);
    // Granted sex: D01 f, D02 other (latest), D03 f (birthDate was bad, gender fine), D04 m, D05 — (bad gender), D06 f, D07 f, D08 m, D09 f, D10 m.
    const sexHist = await query({ indicators: ['sex'], aggregate: 'histogram' });
    assert.equal(sexHist.status, 'done', sexHist.message);
    assert.equal(sexHist.privacy.perPatient, 1, 'one value a patient: L = 1 whatever the study allows');
    assert.deepEqual(sexHist.result.histogram.edges, [0, 1, 2, 3, 4]);
    const slack = Math.max(2, sexHist.result.bucketHalfWidth);
    [0, 5, 3, 1].forEach((want, k) => assert.ok(Math.abs(sexHist.result.histogram.counts[k] - want) <= slack, `bucket ${k}: ${JSON.stringify(sexHist.result.histogram)}`));
    const cohort = (await s.gateway.db.knex('query_contributors').where({ query_id: sexHist.id }).pluck('patient')) as string[];
    const granted = ['D01', 'D02', 'D03', 'D04', 'D06', 'D07', 'D08', 'D09', 'D10'].map((v) => s.gateway.ingest.pseudonymOf(MRN, v));
    assert.deepEqual(cohort.sort(), granted.sort(), 'exactly the patients who granted sex and have a value');

    // The nodes' own selection (exact, no noise): the latest record of each patient, under the consented cohort.
    const edgesOf = (name: string) => ({ edges: getIndicator(name)!.histogramEdges, domain: domainOf(getIndicator(name)!) });
    const sexExact = await exact.aggregate({ indicator: 'sex', aggregate: 'histogram', perPatient: 1, cohort: granted, ...edgesOf('sex') });
    assert.deepEqual(sexExact.histogram?.counts, [0, 5, 3, 1]);
    const years = await exact.aggregate({ indicator: 'birth_year', aggregate: 'histogram', perPatient: 1, cohort: [...granted, s.gateway.ingest.pseudonymOf(MRN, 'D11')], ...edgesOf('birth_year') });
    // 1941, 1952, 1963, 1985, 1990, 1999, 2001, 1975, 1968 (D11): D03 has none, D05 none.
    assert.deepEqual(years.histogram?.counts, [0, 0, 0, 0, 1, 1, 2, 1, 1, 2, 1, 0, 0]);

    const count = await query({ indicators: ['birth_year'], aggregate: 'count' });
    assert.equal(count.status, 'done', count.message);
    const used = (await s.gateway.db.knex('query_contributors').where({ query_id: count.id }).pluck('patient')) as string[];
    assert.ok(used.includes(s.gateway.ingest.pseudonymOf(MRN, 'D11')) && !used.includes(s.gateway.ingest.pseudonymOf(MRN, 'D12')), 'D11 granted birth_year; D12 granted nothing');
    assert.equal(used.length, 9);
  });

  it("one node's shares of 400 identical sex codes look uniform", async () => {
    const rows = Array.from({ length: 400 }, (_, i) => `${MRN}|U${i},female`);
    const c = await ingest(`patient_id,sex\n${rows.join('\n')}\n`, 'text/csv');
    assert.equal(c.accepted, 400);
    const ids = new Set((await s.gateway.db.knex('records').where({ indicator: 'sex', batch_id: c.batchId }).pluck('id')) as string[]);
    for (let node = 1; node <= 3; node++) {
      const shares = (await nodeShares(node, 'sex')).filter((x) => ids.has(x.id)).map((x) => x.share);
      assert.equal(shares.length, 400);
      const u = uniformity(shares);
      assert.ok(u.pass, `node ${node}: ${JSON.stringify(u)}`);
      assert.equal(new Set(shares.map(String)).size, 400, 'no repeated share');
    }
  });
});

describe('demographics and hgd ingest', () => {
  it('a Patient line carried into another chunk links only: its demographics stay with its own chunk', () => {
    const own = JSON.stringify(patient('D1', { birthDate: '1960-01-02', gender: 'female', name: [{ family: 'Chalmers' }] }));
    const obs = JSON.stringify({ resourceType: 'Observation', id: 'o1', status: 'final', subject: { reference: 'Patient/D1' } });
    const chunk: Chunk = { file: { path: 'x.ndjson', display: 'x.ndjson', format: 'ndjson' }, index: 1, records: [], registry: new Map([['Patient/D1', { text: own, identifier: `${MRN}|D1` }]]) };
    const { body } = bodyOf(chunk, [{ text: obs, line: 7, lines: 1, row: 7 }]);
    const carried = JSON.parse(String(body).trim().split('\n')[1]!);
    assert.deepEqual(carried, { resourceType: 'Patient', id: 'D1', identifier: [{ system: MRN, value: 'D1' }] });
    assert.equal(parseNdjson(String(body), { firstLine: 7 }).items.length, 1, 'only the Observation is an entry');
  });
});
