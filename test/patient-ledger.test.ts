import { strict as assert } from 'node:assert';
import { verifyInclusion } from '../storage-layer/merkle';
import { startTestStack, type TestStack } from './support/cluster';

const MRN = 'http://hospital.example/mrn';

/** docs/security.md: a patient can open the ledger entries their access log and grants point to, and no other. */
describe('a patient opens the ledger entries of their own access log and grants', function () {
  this.timeout(120_000);
  let s: TestStack;
  let queryId: string;
  let queryStatus: string;
  const json = (body: unknown) => ({ body: JSON.stringify(body), contentType: 'application/json' });
  const patient = (v: string) => s.patientToken(MRN, v);

  before(async () => {
    s = await startTestStack();
    const admin = { role: 'admin' as const, sub: 'admin-1' };
    await s.gateway.usage.studies.register(admin, { id: 'open', title: 'Open ledger', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 5 });
    await s.gateway.usage.studies.addResearcher(admin, 'open', { researcher: 'r-alice' });
    for (const p of ['L1', 'L2', 'L3']) {
      const g = await s.request('POST', '/patients/me/grants', { token: await patient(p), ...json({ study: 'open', indicators: ['heart_rate'], purpose: 'HRESCH' }) });
      assert.equal(g.status, 201, g.text);
    }
    // L4 has data but granted nothing: not in the query's cohort.
    await s.ingestCsv(['L1', 'L2', 'L3', 'L4'].map((p, i) => [`${MRN}|${p}`, '8867-4', 70 + i, '/min', `2024-05-0${i + 1}T08:00:00Z`]));
    const researcher = await s.token({ role: 'researcher', sub: 'r-alice' });
    const q = await s.request('POST', '/queries', { token: researcher, ...json({ study: 'open', indicators: ['heart_rate'], aggregate: 'count' }) });
    assert.equal(q.status, 202, q.text);
    queryId = q.body.id;
    // Three patients at the default ε: released or suppressed (the DP threshold); either way it is in their access logs.
    queryStatus = (await s.waitForQuery(queryId, researcher)).status;
    assert.ok(['done', 'suppressed'].includes(queryStatus), queryStatus);
  });
  after(async () => s?.close());

  it('the query entry of an access-log line, with an inclusion proof that verifies against the signed checkpoint', async () => {
    const token = await patient('L1');
    const log = await s.request('GET', '/patients/me/access-log', { token });
    assert.equal(log.body.count, 1);
    const seq = log.body.entries[0].ledgerSeq as number;
    const r = await s.request('GET', `/ledger/entries/${seq}`, { token });
    assert.equal(r.status, 200, r.text);
    const { entry, proof, checkpoint } = r.body;
    const content = JSON.parse(entry.canonical);
    assert.deepEqual([entry.seq, entry.kind, content.payload.queryId, content.payload.status], [seq, 'query', queryId, queryStatus]);
    assert.ok(verifyInclusion(Buffer.from(entry.leafHash, 'hex'), proof.leafIndex, proof.treeSize, proof.hashes.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(checkpoint.rootHash, 'hex')));
  });

  it('the entry of their own grant, but not another patient\'s grant, nor any other entry', async () => {
    const l1 = await patient('L1');
    const l2 = await patient('L2');
    const [own] = (await s.request('GET', '/patients/me/grants', { token: l1 })).body.grants;
    assert.equal((await s.request('GET', `/ledger/entries/${own.ledger.grant}`, { token: l1 })).status, 200);
    const other = await s.request('GET', `/ledger/entries/${own.ledger.grant}`, { token: l2 });
    assert.equal(other.status, 403);
    assert.match(other.body.message, /only the ledger entries their access log and grants point to/);
    assert.equal((await s.request('GET', '/ledger/entries/0', { token: l1 })).status, 403);
  });

  it('a patient outside the cohort cannot open the query entry; an auditor can open any', async () => {
    const seq = (await s.request('GET', '/patients/me/access-log', { token: await patient('L1') })).body.entries[0].ledgerSeq;
    const outsider = await patient('L4');
    assert.equal((await s.request('GET', '/patients/me/access-log', { token: outsider })).body.count, 0);
    assert.equal((await s.request('GET', `/ledger/entries/${seq}`, { token: outsider })).status, 403);
    const auditor = await s.token({ role: 'auditor', sub: 'aud' });
    assert.equal((await s.request('GET', `/ledger/entries/${seq}`, { token: auditor })).status, 200);
    assert.equal((await s.request('GET', `/ledger/entries/${seq}`)).status, 401);
  });
});
