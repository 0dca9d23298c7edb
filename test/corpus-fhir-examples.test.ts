/**
 * Corpus: every Observation of the official FHIR R4 examples (npm hl7.fhir.r4.examples, CC0), expanded from every
 * Bundle, ends as exactly one of accepted, duplicate, rejected with a specific reason, or expanded (a panel
 * without a value of its own, its members carrying the values). The test fails on any Observation the answer
 * does not account for (a silent drop).
 *
 * The package is 191 MB, so it is not in the repository nor in package.json: .ci/run fetches it with
 * `npm pack` into a cache outside the repository and sets HGD_FHIR_EXAMPLES_DIR to its `package/` folder.
 * Without that variable the test is skipped, saying so.
 *
 * The Observations are found independently of the gateway's parser: a plain walk of each file's JSON through
 * Bundle.entry[].resource at any depth. The provider first sends every Patient of the package, as a provider
 * would, so that "Patient/example" and its kin resolve; references to Patients the package does not have are
 * rejected with a reason naming them.
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { startTestGateway, type TestGateway } from './support/gateway';

const DIR = process.env.HGD_FHIR_EXAMPLES_DIR;
const SKIP_REASON = 'skipped: HGD_FHIR_EXAMPLES_DIR is not set (.ci/run fetches hl7.fhir.r4.examples with npm pack and sets it)';
const OBSERVATION = /"resourceType"\s*:\s*"Observation"/;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON pointers of the Observations of a resource (itself, or inside its Bundles at any depth). */
function observationPointers(doc: unknown): string[] {
  const out: string[] = [];
  const stack: Array<{ r: unknown; at: string }> = [{ r: doc, at: '' }];
  while (stack.length) {
    const { r, at } = stack.pop()!;
    if (!isObject(r)) continue;
    if (r.resourceType === 'Observation') out.push(at);
    if (r.resourceType === 'Bundle' && Array.isArray(r.entry)) {
      r.entry.forEach((e: unknown, i) => stack.push({ r: isObject(e) ? e.resource : undefined, at: `${at}/entry/${i}/resource` }));
    }
  }
  return out.sort();
}

interface Answer {
  status: number;
  body: {
    message?: string;
    field?: string;
    outcomes?: Array<{ pointer: string; outcome: string }>;
    errors?: Array<{ pointer: string; reason: string }>;
    notes?: Array<{ pointer: string; note: string }>;
    repeated?: boolean;
    accepted?: number;
  };
}

describe('corpus: every Observation of the FHIR R4 examples package is accounted for', function () {
  this.timeout(600_000);
  let t: TestGateway;
  let token: string;
  const totals = { files: 0, observations: 0, accepted: 0, duplicate: 0, rejected: 0, expanded: 0, refusedFiles: 0 };
  const firstAnswers = new Map<string, Answer>();

  before(async function () {
    if (!DIR) return;
    t = await startTestGateway({ HGD_RATE_LIMIT_PER_MINUTE: '1000000', HGD_BODY_LIMIT: '50mb' });
    token = await t.token({ role: 'provider', sub: 'examples', org: 'hl7-examples' });
  });
  after(async () => {
    await t?.close();
  });

  const post = async (file: string): Promise<Answer> => {
    const r = await t.request('POST', '/ingest?report=entries', { token, body: fs.readFileSync(file), contentType: 'application/fhir+json' });
    return { status: r.status, body: r.body ?? {} };
  };
  const files = () => fs.readdirSync(DIR!).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(DIR!, f));

  /** Checks one file's answer against the Observations found in it; returns how each ended. */
  function account(file: string, pointers: string[], a: Answer): void {
    const name = path.basename(file);
    if (a.status === 400 || a.status === 415) {
      // The whole upload refused (a Bundle type HGD does not take): every Observation in it, for that one reason.
      assert.ok(a.body.message && a.body.field, `${name}: ${a.status} without a message naming the field`);
      totals.refusedFiles++;
      totals.rejected += pointers.length;
      return;
    }
    assert.ok(a.status === 200 || a.status === 422, `${name}: answered ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`);
    const byPointer = new Map((a.body.outcomes ?? []).map((o) => [o.pointer, o.outcome]));
    for (const p of pointers) {
      const outcome = byPointer.get(p);
      assert.ok(outcome, `${name}: the Observation at "${p}" is not accounted for (silently dropped)`);
      totals[outcome as 'accepted' | 'duplicate' | 'rejected' | 'expanded']++;
      if (outcome === 'rejected' && a.status === 200) {
        const reasons = (a.body.errors ?? []).filter((e) => e.pointer === p || e.pointer.startsWith(`${p}/`));
        assert.ok(reasons.length > 0, `${name}: the Observation at "${p}" was rejected without a reason`);
        for (const r of reasons) assert.ok(r.reason.length > 10 && !/nothing HGD stores came of this entry/.test(r.reason), `${name} ${p}: reason "${r.reason}" is not specific`);
      }
      if (outcome === 'expanded') assert.ok((a.body.notes ?? []).some((n) => n.pointer === p && /^panel expanded/.test(n.note)), `${name} ${p}: expanded without a note`);
    }
  }

  it('links the package\'s Patients, then sends every file holding Observations: none is dropped', async function () {
    if (!DIR) {
      this.test!.title += ` (${SKIP_REASON})`;
      this.skip();
    }
    assert.ok(fs.existsSync(path.join(DIR!, 'Observation-example.json')), `HGD_FHIR_EXAMPLES_DIR=${DIR} does not hold the examples package`);
    for (const file of files().filter((f) => path.basename(f).startsWith('Patient-'))) {
      const a = await post(file);
      assert.equal(a.status, 200, `${path.basename(file)}: ${JSON.stringify(a.body).slice(0, 200)}`);
    }
    for (const file of files()) {
      const text = fs.readFileSync(file, 'utf8');
      if (!OBSERVATION.test(text)) continue;
      const pointers = observationPointers(JSON.parse(text));
      if (pointers.length === 0) continue;
      totals.files++;
      totals.observations += pointers.length;
      const a = await post(file);
      firstAnswers.set(file, a);
      account(file, pointers, a);
    }
    const { observations, accepted, duplicate, rejected, expanded } = totals;
    console.log(`      corpus: ${totals.files} files, ${observations} Observations: ${accepted} accepted, ${duplicate} duplicate, ${rejected} rejected (${totals.refusedFiles} whole files refused), ${expanded} panels expanded`);
    assert.equal(accepted + duplicate + rejected + expanded, observations, 'each Observation ends exactly once');
    assert.ok(observations >= 500, `only ${observations} Observations found: is this the whole package?`);
    assert.ok(accepted >= 20 && expanded > 0, 'the corpus reaches the store and the panels');
  });

  it('sending every file again stores nothing new: each answer is the first one\'s, repeated', async function () {
    if (!DIR) {
      this.test!.title += ` (${SKIP_REASON})`;
      this.skip();
    }
    const records = async () => Number((await t.gateway.db.knex('records').count<{ c: string | number }[]>('* as c'))[0]!.c);
    const [before, ledger] = [await records(), t.gateway.ledger.size];
    for (const [file, first] of firstAnswers) {
      if (first.status !== 200 && first.status !== 422) continue;
      const again = await post(file);
      assert.equal(again.status, first.status, path.basename(file));
      assert.equal(again.body.repeated, true, `${path.basename(file)} was not recognised as the same batch`);
      assert.equal(again.body.accepted, 0);
    }
    assert.deepEqual([await records(), t.gateway.ledger.size], [before, ledger], 'no record and no ledger entry added');
  });
});
