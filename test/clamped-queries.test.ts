/**
 * Declared bounds through the HTTP API (gateway + three compute nodes): `options.bounds` clamps every
 * value at the nodes, the noise follows from the declared bounds instead of the catalogue's range, the
 * released value is near the clamped plaintext, and bad bounds are refused naming the field.
 */
import { strict as assert } from 'node:assert';
import { startTestStack, type TestStack } from './support/cluster';
import { prng } from './support/mpc';
import { assertCovers } from './support/intervals';

const MRN = 'http://hospital.example/mrn';
const SBP = '8480-6';
const BMI = '39156-5';

interface Patient {
  id: string;
  sbp: number;
  bmi: number;
}

describe('declared bounds (HTTP, three nodes)', function () {
  this.timeout(300_000);
  let s: TestStack;
  let alice: string;
  const next = prng(2024);
  // BMI rises with SBP; a few values lie outside the declared bounds [90, 180] and [15, 45].
  const patients: Patient[] = Array.from({ length: 60 }, (_, i) => {
    const sbp = Math.round(95 + next() * 80);
    return { id: `B${i}`, sbp, bmi: Math.round((12 + (sbp - 95) * 0.3 + next() * 6) * 10) / 10 };
  });
  patients.push({ id: 'HIGH', sbp: 260, bmi: 70 }, { id: 'LOW', sbp: 60, bmi: 10 });
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const bounds = { bp_systolic: { min: 90, max: 180 }, bmi: { min: 15, max: 45 } };

  const post = async (path: string, token: string, body: unknown) => s.request('POST', path, { token, body: JSON.stringify(body), contentType: 'application/json' });
  const query = async (body: Record<string, unknown>) => {
    const r = await post('/queries', alice, body);
    assert.equal(r.status, 202, r.text);
    return s.waitForQuery(r.body.id, alice);
  };
  const sensitivity = (q: { privacy: { parts: Array<{ measure: string; sensitivity: number }> } }, m: string) => q.privacy.parts.find((p) => p.measure === m)?.sensitivity;

  before(async () => {
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '100', HGD_PATIENT_EPSILON_BUDGET: '1000' } });
    alice = await s.token({ role: 'researcher', sub: 'r-alice' });
    const rows: Array<[string, string, number, string, string]> = [];
    for (const p of patients) {
      rows.push([`${MRN}|${p.id}`, SBP, p.sbp, 'mm[Hg]', '2024-05-02T08:00:00Z'], [`${MRN}|${p.id}`, BMI, p.bmi, 'kg/m2', '2024-05-02T08:00:00Z']);
    }
    await s.ingestCsv(rows);
    const r = await post('/admin/studies', s.admin, { id: 'clamp', title: 'clamp', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000, maxContributions: 1 });
    assert.equal(r.status, 201, r.text);
    await post('/admin/studies/clamp/researchers', s.admin, { researcher: 'r-alice' });
    for (const p of patients) {
      const g = await post('/patients/me/grants', await s.patientToken(MRN, p.id), { study: 'clamp', indicators: ['bp_systolic', 'bmi'], purpose: 'HRESCH' });
      assert.equal(g.status, 201, g.text);
    }
  });
  after(async () => s?.close());

  it('variance of SBP with bounds [90, 180]: no pilot, noise from the bounds, the clamped plaintext inside the interval', async () => {
    const xs = patients.map((p) => clamp(p.sbp, 90, 180));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const truth = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1);
    const q = await query({ study: 'clamp', indicators: ['bp_systolic'], aggregate: 'variance', options: { epsilon: 10, bounds: { bp_systolic: bounds.bp_systolic } } });
    assert.equal(q.status, 'done', q.message);
    assert.deepEqual(q.privacy.clampedTo, { x: { min: 90, max: 180 } });
    assert.deepEqual(q.privacy.centre, { x: 135 }, 'around the declared bounds’ midpoint');
    assert.deepEqual((q.privacy.parts as Array<{ measure: string }>).map((p) => p.measure), ['count', 'sum', 'sumSquares', 'contributors'], 'no pilot parts');
    assert.equal(sensitivity(q, 'sumSquares'), 45 * 45, 'L·h² with the declared half-width 45');
    assertCovers(truth, q.result.interval, 'clamped variance', q.result.value);
    // The same query without bounds: the pilot plan's bound on Σ(x − m̂)² is the catalogue width², 260².
    const plain = await query({ study: 'clamp', indicators: ['bp_systolic'], aggregate: 'variance', options: { epsilon: 10 } });
    assert.equal(plain.status, 'done', plain.message);
    assert.ok((sensitivity(plain, 'sumSquares') as number) > 10 * 45 * 45, `catalogue sensitivity ${sensitivity(plain, 'sumSquares')} vs declared ${45 * 45}`);
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.deepEqual(entry.payload.bounds, { bp_systolic: { min: 90, max: 180 } }, 'the ledger records the declared bounds');
  });

  it('mean and correlation of SBP and BMI with declared bounds are near the clamped plaintext', async () => {
    const pairs = patients.map((p) => [clamp(p.sbp, 90, 180), clamp(p.bmi, 15, 45)] as const);
    const n = pairs.length;
    const mx = pairs.reduce((a, [x]) => a + x, 0) / n;
    const my = pairs.reduce((a, [, y]) => a + y, 0) / n;
    const sxy = pairs.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
    const sxx = pairs.reduce((a, [x]) => a + (x - mx) ** 2, 0);
    const syy = pairs.reduce((a, [, y]) => a + (y - my) ** 2, 0);
    const r = sxy / Math.sqrt(sxx * syy);
    assert.ok(r > 0.6, `a real correlation: ${r}`);
    const c = await query({ study: 'clamp', indicators: ['bp_systolic', 'bmi'], aggregate: 'correlation', options: { epsilon: 20, pairWindowSeconds: 0, bounds } });
    assert.equal(c.status, 'done', c.message);
    assert.deepEqual((c.privacy.parts as Array<{ measure: string }>).map((p) => p.measure), ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY', 'contributors']);
    const [lo, hi] = c.result.interval as [number, number];
    assert.ok(lo - 0.1 <= r && r <= hi + 0.1, `clamped plaintext r = ${r.toFixed(3)} in [${lo.toFixed(3)}, ${hi.toFixed(3)}] (released ${c.result.value})`);
    const m = await query({ study: 'clamp', indicators: ['bmi'], aggregate: 'mean', options: { epsilon: 10, bounds: { bmi: bounds.bmi } } });
    assert.equal(m.status, 'done', m.message);
    assert.ok(Math.abs(m.result.value - my) < 2, `mean BMI ${m.result.value} near the clamped ${my.toFixed(2)}`);
    assert.ok(m.result.value >= 15 && m.result.value <= 45, 'released inside the declared bounds');
  });

  it('a clamped mean with a cohort filter: SBP in [90, 180] of the patients whose latest BMI ≥ 30, near the clamped plaintext', async () => {
    const chosen = patients.filter((p) => p.bmi >= 30).map((p) => clamp(p.sbp, 90, 180));
    assert.ok(chosen.length >= 5 && chosen.length < patients.length, `a real selection: ${chosen.length}`);
    const truth = chosen.reduce((a, b) => a + b, 0) / chosen.length;
    const q = await query({ study: 'clamp', indicators: ['bp_systolic'], aggregate: 'mean', filter: { indicator: 'bmi', op: '>=', value: 30 }, options: { epsilon: 20, bounds: { bp_systolic: bounds.bp_systolic } } });
    assert.equal(q.status, 'done', q.message);
    assert.deepEqual(q.privacy.clampedTo, { x: { min: 90, max: 180 } });
    assertCovers(truth, q.result.interval, 'clamped filtered mean', q.result.value);
    assert.ok(Math.abs(q.result.records - chosen.length) <= 3, `the filtered count ${q.result.records} near ${chosen.length}`);
  });

  // 62 patients: at ε 20 the pilot's noise floor often widens the bounds back to the catalogue's (as it
  // should for a small cohort); ε 100 makes the narrowing itself testable.
  it('automatic bounds: a variance clamped into bounds derived from a pilot, narrower than the catalogue, holding the bulk of the data', async () => {
    const q = await query({ study: 'clamp', indicators: ['bp_systolic'], aggregate: 'variance', options: { epsilon: 100, bounds: 'auto' } });
    assert.equal(q.status, 'done', q.message);
    assert.equal(q.options.bounds, 'auto');
    assert.deepEqual(q.privacy.autoBounds, { stds: 4, derived: false }, 'the stored plan: bounds not yet derived at submission');
    assert.deepEqual((q.privacy.parts as Array<{ measure: string }>).map((p) => p.measure), ['pilotSumX', 'pilotSquaresX', 'count', 'sum', 'sumSquares', 'contributors'], 'L = 1, no filter: the gate counts the pilot');
    const b = q.result.clampedTo.bp_systolic as { min: number; max: number };
    assert.ok(b.min >= 40 && b.max <= 300 && b.max - b.min < 260, `narrower than the catalogue's [40, 300]: [${b.min}, ${b.max}]`);
    assert.ok(b.min <= 95 && b.max >= 175, `holds the bulk of the data [95, 175]: [${b.min}, ${b.max}]`);
    const released = (q.result.noise as Array<{ measure: string; sensitivity: number }>).find((p) => p.measure === 'sumSquares')!;
    const half = (b.max - b.min) / 2;
    // The centre is the bounds' midpoint on the values' grid (whole mmHg), so the spread is within a unit of the half-width.
    assert.ok(released.sensitivity >= half * half && released.sensitivity <= (half + 1) ** 2, `Σ(x − c)² noised at the derived half-width²: ${released.sensitivity} vs ${half * half}`);
    const xs = patients.map((p) => clamp(p.sbp, b.min, b.max));
    const mean = xs.reduce((a, v) => a + v, 0) / xs.length;
    const truth = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (xs.length - 1);
    assertCovers(truth, q.result.interval, 'variance clamped into the derived bounds', q.result.value);
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.equal(entry.payload.bounds, 'auto', 'the ledger records that the bounds were automatic');
    // And what the noise was applied with: the derived bounds and the sensitivities they gave, not the plan's catalogue upper bounds.
    assert.deepEqual(entry.payload.released.clampedTo, q.result.clampedTo);
    const applied = (entry.payload.released.parts as Array<{ measure: string; sensitivity: number }>).find((p) => p.measure === 'sumSquares')!;
    assert.equal(applied.sensitivity, released.sensitivity);
    const submitted = (entry.payload.privacy.parts as Array<{ measure: string; sensitivity: number }>).find((p) => p.measure === 'sumSquares')!;
    assert.ok(submitted.sensitivity > applied.sensitivity, `the submitted plan's upper bound ${submitted.sensitivity} stays beside it`);
  });

  it('automatic bounds for a correlation (both indicators; its default, asked for nothing) and a filtered mean (its own noisy counts)', async () => {
    const c = await query({ study: 'clamp', indicators: ['bp_systolic', 'bmi'], aggregate: 'correlation', options: { epsilon: 100, pairWindowSeconds: 0 } });
    assert.equal(c.status, 'done', c.message);
    assert.equal(c.options.bounds, 'auto', 'a pair kind clamps into automatic bounds unless asked for "catalogue"');
    const { bp_systolic: bx, bmi: by } = c.result.clampedTo as Record<string, { min: number; max: number }>;
    assert.ok(bx && by && by.min >= 8 && by.max <= 150 && by.max - by.min < 142, `BMI bounds inside and narrower than [8, 150]: ${JSON.stringify(by)}`);
    const pairs = patients.map((p) => [clamp(p.sbp, bx.min, bx.max), clamp(p.bmi, by.min, by.max)] as const);
    const n = pairs.length;
    const mx = pairs.reduce((a, [x]) => a + x, 0) / n;
    const my = pairs.reduce((a, [, y]) => a + y, 0) / n;
    const r = pairs.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / Math.sqrt(pairs.reduce((a, [x]) => a + (x - mx) ** 2, 0) * pairs.reduce((a, [, y]) => a + (y - my) ** 2, 0));
    const [lo, hi] = c.result.interval as [number, number];
    assert.ok(lo - 0.15 <= r && r <= hi + 0.15, `clamped plaintext r = ${r.toFixed(3)} in [${lo.toFixed(3)}, ${hi.toFixed(3)}] (released ${c.result.value})`);
    const chosen = patients.filter((p) => p.bmi >= 30);
    const m = await query({ study: 'clamp', indicators: ['bp_systolic'], aggregate: 'mean', filter: { indicator: 'bmi', op: '>=', value: 30 }, options: { epsilon: 100, bounds: 'auto' } });
    assert.equal(m.status, 'done', m.message);
    assert.deepEqual((m.privacy.parts as Array<{ measure: string }>).map((p) => p.measure), ['pilotSumX', 'pilotCountX', 'pilotSquaresX', 'sum', 'count', 'contributors'], 'a filter: the pilot counts its own records');
    const b = m.result.clampedTo.bp_systolic as { min: number; max: number };
    const truth = chosen.map((p) => clamp(p.sbp, b.min, b.max)).reduce((a, v) => a + v, 0) / chosen.length;
    assertCovers(truth, m.result.interval, 'filtered mean clamped into automatic bounds', m.result.value);
  });

  it('refuses bounds a kind does not take, outside the range, off the grid, or for other indicators (400 naming options.bounds)', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ aggregate: 'count', indicators: ['bp_systolic'], options: { bounds: { bp_systolic: { min: 90, max: 180 } } } }, /applies to sum, mean, variance, stddev, covariance, correlation, not count/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: { bp_systolic: { min: 30, max: 180 } } } }, /inside bp_systolic's plausible range \[40, 300\]/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: { bp_systolic: { min: 90.5, max: 180 } } } }, /more than the 0 decimal/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: { bp_systolic: { min: 180, max: 90 } } } }, /min must be below max/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: { bmi: { min: 15, max: 45 } } } }, /not one of the query's indicators/],
      [{ aggregate: 'correlation', indicators: ['bp_systolic', 'bmi'], options: { bounds: { bmi: { min: 15, max: 45 } } } }, /bounds for bp_systolic are missing/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: { bp_systolic: { min: 90 } } } }, /max/],
      [{ aggregate: 'sum', indicators: ['bp_systolic'], options: { bounds: 'auto' } }, /"auto" applies to mean, variance, stddev, covariance, correlation, not sum/],
      [{ aggregate: 'count', indicators: ['bp_systolic'], options: { bounds: 'auto' } }, /"auto" applies to/],
      [{ aggregate: 'mean', indicators: ['bp_systolic'], options: { bounds: 'wide' } }, /bounds/],
      [{ aggregate: 'histogram', indicators: ['bp_systolic'], options: { bounds: 'catalogue' } }, /applies to sum, mean, variance, stddev, covariance, correlation, not histogram/],
    ];
    for (const [body, message] of cases) {
      const r = await post('/queries', alice, { study: 'clamp', ...body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.body.message, message);
      assert.match(r.body.field, /^options\.bounds/);
    }
  });
});
