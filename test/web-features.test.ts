import { strict as assert } from 'node:assert';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestStack, type TestStack } from './support/cluster';
import { checkPage, CHROMIUM, ensureBuilt, requireChromium, runQuery } from './support/web-browser';

/**
 * The web app's views of what the API gained after issue 15's first pages (in headless Debian
 * Chromium, with its own test stack): the researcher's cohort filter and patient-reported switch,
 * a correlation with its interval, and the patient's alert rules with alerts arriving live over
 * GET /alerts/stream. Every view is checked with axe-core and at 375 px (support/web-browser.ts).
 */
const MRN = 'http://hospital.example/mrn';
const GLUCOSE = '2339-0';
const HEART_RATE = '8867-4';
const PASSWORD = 'correct horse battery';
const PATIENTS = 12;
const id = (i: number) => `P${String(i).padStart(2, '0')}`;
/** Patient i: glucose 90 + 2i mg/dL, heart rate 60 + 2i /min (one time), female when i is even, born 1950 + 3i. */
const glucoseMgDl = (i: number) => 90 + 2 * i;

/** The part of GET /queries/:id these tests read. */
interface ApiQueryView {
  options: { filter?: unknown; includePatientReported?: boolean; bounds?: unknown; q?: number; groupBy?: unknown };
  privacy: { clampedTo?: unknown };
  result: { value: number; interval: [number, number]; groups?: Array<{ group: string; suppressed: boolean; value: number | null }> };
}

describe('web app: cohort filters, correlation, alert rules and live alerts (headless Chromium)', function () {
  this.timeout(120_000);
  let s: TestStack;
  let browser: Browser;
  let researcherToken: string;

  const json = (body: unknown) => ({ body: JSON.stringify(body), contentType: 'application/json' });

  before(async function () {
    requireChromium(this);
    await ensureBuilt();
    // ε up to 20 (a count's noise is then well below 1) and a large patient budget, as in web-flows.
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '1000' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    const admin = { role: 'admin' as const, sub: 'admin-1' };
    await s.gateway.identity.createUser(admin, { username: 'pat', role: 'patient', password: PASSWORD, patientIdentifier: `${MRN}|${id(0)}` });
    await s.gateway.identity.createUser(admin, { username: 'rhea', role: 'researcher', password: PASSWORD });
    assert.equal((await s.request('POST', '/admin/studies', { token: s.admin, ...json({ id: 'cardio', title: 'Cardio', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000 }) })).status, 201);
    assert.equal((await s.request('POST', '/admin/studies/cardio/researchers', { token: s.admin, ...json({ username: 'rhea' }) })).status, 201);
    const rows: Array<[string, string, number, string, string]> = [];
    for (let i = 0; i < PATIENTS; i++) {
      rows.push([`${MRN}|${id(i)}`, GLUCOSE, glucoseMgDl(i), 'mg/dL', '2026-03-01T08:00:00Z'], [`${MRN}|${id(i)}`, HEART_RATE, 60 + 2 * i, '/min', '2026-03-01T08:00:00Z']);
    }
    await s.ingestCsv(rows);
    const demographics = ['patient_id,birth_date,sex', ...Array.from({ length: PATIENTS }, (_, i) => `"${MRN}|${id(i)}",${1950 + 3 * i}-06-15,${i % 2 === 0 ? 'female' : 'male'}`)].join('\n');
    const stored = await s.request('POST', '/ingest', { token: s.provider, body: demographics, contentType: 'text/csv' });
    assert.equal(stored.status, 200, stored.text);
    for (let i = 0; i < PATIENTS; i++) {
      const token = await s.patientToken(MRN, id(i));
      const grant = await s.request('POST', '/patients/me/grants', { token, ...json({ study: 'cardio', indicators: ['glucose', 'heart_rate', 'sex', 'birth_year'], purpose: 'HRESCH' }) });
      assert.equal(grant.status, 201, grant.text);
    }
    const login = await s.request('POST', '/auth/login', json({ username: 'rhea', password: PASSWORD }));
    researcherToken = login.body.token as string;
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  async function signIn(username: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    await page.goto(s.url + '/');
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return page;
  }

  /** Clicks Run and waits for a settled status; returns the query's id (its first 8 hex digits). */
  async function run(page: Page): Promise<string> {
    const { text, id } = await runQuery(page);
    assert.match(text, /: done$/);
    return id;
  }

  /** The researcher's own query whose id starts with `prefix`, as the API reports it. */
  async function apiView(prefix: string): Promise<ApiQueryView> {
    const list = await s.request('GET', '/queries', { token: researcherToken });
    const found = (list.body.queries as Array<{ id: string }>).find((q) => q.id.startsWith(prefix));
    assert.ok(found, `query ${prefix} is in the researcher's list`);
    return (await s.request('GET', `/queries/${found.id}`, { token: researcherToken })).body as ApiQueryView;
  }

  describe('researcher', () => {
    let page: Page;
    before(async () => { page = await signIn('rhea'); });

    it('a filtered count built in the page matches the API’s answer to the same query, and the result says the filter in words', async () => {
      await page.getByLabel('Study').selectOption('cardio');
      await page.getByLabel('Aggregate').selectOption('count');
      await page.getByLabel('Indicator', { exact: true }).selectOption('glucose');
      await page.getByLabel('ε for this query').fill('20');
      await page.getByRole('button', { name: 'Add a condition' }).click();
      await page.getByLabel('Condition 1: indicator').selectOption('glucose');
      await page.getByLabel('Condition 1: comparison').selectOption('>=');
      await page.getByLabel('Condition 1: value').fill('5.2');
      await page.getByRole('button', { name: 'Add a condition' }).click();
      await page.getByLabel('Condition 2: indicator').selectOption('sex');
      assert.equal(await page.getByLabel('Condition 2: value').inputValue(), 'unknown', 'a coded demographic offers its code names');
      await page.getByLabel('Condition 2: value').selectOption('female');
      await page.getByLabel('Patients must match').selectOption('and');
      await page.getByLabel(/Include patients’ own device readings/).check();
      const prefix = await run(page);
      const fromPage = Number(await page.locator('dl.numbers dd strong').first().innerText());

      const view = await apiView(prefix);
      const filter = { and: [{ indicator: 'glucose', op: '>=', value: 5.2 }, { indicator: 'sex', op: '=', value: 'female' }] };
      assert.deepEqual(view.options.filter, filter, 'the page sent the filter it shows');
      assert.equal(view.options.includePatientReported, true);
      // The same query straight through the API.
      const direct = await s.request('POST', '/queries', { token: researcherToken, ...json({ study: 'cardio', indicators: ['glucose'], aggregate: 'count', filter, options: { epsilon: 20, includePatientReported: true } }) });
      assert.equal(direct.status, 202, direct.text);
      const answer = await s.waitForQuery(direct.body.id as string, researcherToken);
      assert.equal(answer.status, 'done');
      // Truth: even i (female) with glucose ≥ 5.2 mmol/L (≥ 93.7 mg/dL): i = 2, 4, 6, 8, 10.
      const truth = Array.from({ length: PATIENTS }, (_, i) => i).filter((i) => i % 2 === 0 && glucoseMgDl(i) / 18.016 >= 5.2).length;
      assert.equal(truth, 5);
      assert.ok(Math.abs(fromPage - answer.result.value) < 2, `page ${fromPage} and API ${answer.result.value} agree up to noise`);
      assert.ok(Math.abs(fromPage - truth) < 1, `the page's count ${fromPage} is the filtered cohort's (${truth}) up to noise`);
      const asked = await page.locator('p.asked').innerText();
      assert.equal(asked, 'The count of glucose, over patients whose latest glucose is at least 5.2 mmol/L and whose administrative sex is female; providers’ records and patients’ own device readings.');
      await checkPage(page, 'researcher-filter');
    });

    it('a filter the API refuses (on a covariance) is said in words naming the field', async () => {
      await page.getByLabel('Aggregate').selectOption('covariance');
      await page.getByRole('button', { name: 'Run query' }).click();
      const alert = page.getByRole('alert').first();
      await alert.waitFor();
      assert.match(await alert.innerText(), /\(field: filter\)$/);
      await page.getByRole('button', { name: 'Remove condition 2' }).click();
      await page.getByRole('button', { name: 'Remove condition 1' }).click();
      assert.equal(await page.getByLabel(/Condition \d/).count(), 0);
    });

    it('a correlation shows its coefficient with its 95 % interval, as the API released them', async () => {
      await page.getByLabel('Aggregate').selectOption('correlation');
      await page.getByLabel('First indicator').selectOption('glucose');
      await page.getByLabel('Second indicator').selectOption('heart_rate');
      await page.getByLabel(/Include patients’ own device readings/).uncheck();
      const prefix = await run(page);
      const view = await apiView(prefix);
      const { value, interval: [low, high] } = view.result;
      const fmt = (n: number) => String(Number(n.toFixed(3)));
      const numbers = await page.locator('dl.numbers').innerText();
      assert.match(numbers, new RegExp(`correlation\\s+${fmt(value).replace('.', '\\.')}`));
      assert.match(numbers, new RegExp(`95 % interval\\s+${fmt(low).replace('.', '\\.')} to ${fmt(high).replace('.', '\\.')}`));
      assert.ok(low <= value && value <= high);
      const chart = page.getByRole('img', { name: `Correlation ${fmt(value)} with 95 % interval ${fmt(low)} to ${fmt(high)}` });
      assert.equal(await chart.count(), 1, 'the coefficient is plotted with its interval');
      assert.equal(view.options.bounds, 'auto', 'the page sends a correlation with automatic bounds, its default');
      assert.match(await page.locator('p.asked').innerText(), /^The correlation of glucose and heart rate, over every consenting patient, glucose clamped into automatic bounds [\d.]+ to [\d.]+ and heart rate clamped into automatic bounds [\d.]+ to [\d.]+; providers’ records only\.$/);
      await checkPage(page, 'researcher-correlation');
    });
  });

  describe('researcher: declared bounds, quantiles and group-by', () => {
    let page: Page;
    before(async () => { page = await signIn('rhea'); });

    it('a mean with declared bounds sends them, and the page shows the clamped mean the API released', async () => {
      await page.getByLabel('Study').selectOption('cardio');
      await page.getByLabel('Aggregate').selectOption('mean');
      await page.getByLabel('Indicator', { exact: true }).selectOption('glucose');
      await page.getByLabel('ε for this query').fill('20');
      await page.getByLabel('Declared lower bound').fill('5.2');
      await page.getByLabel('Declared upper bound').fill('6');
      const prefix = await run(page);
      const view = await apiView(prefix);
      assert.deepEqual(view.options.bounds, { glucose: { min: 5.2, max: 6 } });
      assert.deepEqual(view.privacy.clampedTo, { x: { min: 5.2, max: 6 } });
      const fromPage = Number(await page.locator('dl.numbers dd strong').first().innerText());
      assert.equal(fromPage, Number(view.result.value.toFixed(3)), 'the page shows the released value');
      // Truth: glucose 90 + 2i mg/dL in mmol/L, clamped into [5.2, 6].
      const clamped = Array.from({ length: PATIENTS }, (_, i) => Math.min(6, Math.max(5.2, Math.round((glucoseMgDl(i) / 18.016) * 100) / 100)));
      const truth = clamped.reduce((a, b) => a + b, 0) / PATIENTS;
      assert.ok(Math.abs(view.result.value - truth) < 0.3, `released ${view.result.value} near the clamped mean ${truth.toFixed(3)}`);
      assert.match(await page.locator('p.asked').innerText(), /^The mean of glucose, over every consenting patient, glucose clamped into 5\.2 to 6; providers’ records only\.$/);
      await page.getByLabel('Declared lower bound').fill('');
      await page.getByLabel('Declared upper bound').fill('');
    });

    it('a mean with automatic bounds sends "auto", and the page names the bounds the gateway derived', async () => {
      await page.getByLabel('Automatic bounds').check();
      const view = await apiView(await run(page));
      assert.equal(view.options.bounds, 'auto');
      const b = (view.result as unknown as { clampedTo: Record<string, { min: number; max: number }> }).clampedTo.glucose!;
      assert.ok(b.min < b.max, `derived bounds ${JSON.stringify(b)}`);
      const words = (n: number) => String(Number(n.toFixed(3))).replace('.', '\\.');
      assert.match(await page.locator('p.asked').innerText(), new RegExp(`^The mean of glucose, over every consenting patient, glucose clamped into automatic bounds ${words(b.min)} to ${words(b.max)}; providers’ records only\\.$`));
      assert.equal(Number(await page.locator('dl.numbers dd strong').first().innerText()), Number(view.result.value.toFixed(3)), 'the page shows the released value');
      await page.getByLabel('Automatic bounds').uncheck();
    });

    it('a 90th percentile and a mean by sex: the page sends q and groupBy and shows what the API released', async () => {
      await page.getByLabel('Aggregate').selectOption('quantile');
      await page.getByLabel('Indicator', { exact: true }).selectOption('heart_rate');
      await page.getByLabel('Quantile q').fill('0.9');
      const q = await apiView(await run(page));
      assert.equal(q.options.q, 0.9);
      assert.equal(Number(await page.locator('dl.numbers dd strong').first().innerText()), Number(q.result.value.toFixed(3)));
      assert.match(await page.locator('p.asked').innerText(), /^The 90th percentile of heart rate, over every consenting patient/);

      await page.getByLabel('Aggregate').selectOption('mean');
      await page.getByLabel('Group by').selectOption('sex');
      const g = await apiView(await run(page));
      assert.equal(g.options.groupBy, 'sex');
      const released = (g.result.groups ?? []).filter((x) => !x.suppressed);
      assert.deepEqual(released.map((x) => x.group).sort(), ['female', 'male'], 'six patients of each sex are released, the empty codes withheld');
      const table = page.getByRole('region', { name: 'mean by administrative sex' });
      for (const x of released) assert.match(await table.innerText(), new RegExp(`${x.group}\\s+${String(Number((x.value as number).toFixed(3))).replace('.', '\\.')}`));
      await checkPage(page, 'researcher-groups');

      // Bands of an indicator: the mean heart rate of patients below and at or above glucose 5.5 mmol/L.
      await page.getByLabel('Group by').selectOption('bands');
      await page.getByLabel('Band indicator').selectOption('glucose');
      await page.getByLabel('Band edges').fill('5.5');
      const bands = await apiView(await run(page));
      assert.deepEqual(bands.options.groupBy, { indicator: 'glucose', edges: [5.5] });
      assert.deepEqual((bands.result.groups ?? []).map((x) => x.group), ['< 5.5', '≥ 5.5']);
      assert.match(await page.getByRole('region', { name: 'mean by glucose band' }).innerText(), /< 5\.5/);
      await page.getByLabel('Group by').selectOption('');
    });
  });

  describe('patient', () => {
    it('a rule created in the page fires on an uploaded reading, and the alert appears live without a reload; the rule is edited in place with its history', async () => {
      const page = await signIn('pat');
      await page.getByText(/^Live: new alerts appear here/).waitFor();
      await page.getByText('No alert rules.').waitFor();
      await page.getByLabel('Rule indicator').selectOption('heart_rate');
      await page.getByLabel('Condition', { exact: true }).fill('heart_rate > 120');
      await page.getByRole('button', { name: 'Create rule' }).click();
      await page.getByRole('status').filter({ hasText: 'Rule “heart_rate > 120” created' }).waitFor();
      await page.getByText(/version 1, set by you/).waitFor();

      // A reading uploaded elsewhere (the patient's phone, here the API): the page is not reloaded.
      const marker = await page.evaluate('window.__notReloaded = true');
      assert.equal(marker, true);
      const point = {
        header: { schema_id: { namespace: 'omh', name: 'heart-rate', version: '2.0' }, acquisition_provenance: { source_name: 'Wristband W1' } },
        body: { heart_rate: { value: 140, unit: 'beats/min' }, effective_time_frame: { date_time: '2026-04-02T07:30:00Z' } },
      };
      const upload = await s.request('POST', '/patients/me/readings', { token: await s.patientToken(MRN, id(0)), ...json([point]) });
      assert.equal(upload.status, 200, upload.text);
      const alert = page.locator('#alerts li').filter({ hasText: /Your heart rate was 140 .*rule “heart_rate > 120”/ });
      await alert.waitFor({ timeout: 10_000 });
      assert.equal(await page.evaluate('window.__notReloaded'), true, 'the alert arrived without a reload');
      assert.equal(await page.locator('#alerts li').count(), 1);

      await page.getByRole('button', { name: 'Edit rule “heart_rate > 120”' }).click();
      // Another indicator is another rule: refused in words, naming the field, and the rule is unchanged.
      await page.getByLabel('New condition for rule “heart_rate > 120”').fill('spo2 < 80');
      await page.getByRole('button', { name: 'Save' }).click();
      const refused = page.locator('#rules').getByRole('alert');
      await refused.waitFor();
      assert.match(await refused.innerText(), /\(field: condition\)$/);
      await page.getByLabel('New condition for rule “heart_rate > 120”').fill('heart_rate > 150');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'Rule changed to “heart_rate > 150” (version 2)' }).waitFor();
      await page.getByRole('button', { name: 'History of rule “heart_rate > 150”' }).click();
      const history = page.getByRole('region', { name: 'History of rule “heart_rate > 150”' });
      await history.getByText('changed (window restarted)').waitFor();
      assert.match(await history.innerText(), /1\s+created\s+heart_rate > 120\s+you[\s\S]*2\s+changed \(window restarted\)\s+heart_rate > 150\s+you/);
      assert.equal(await page.locator('#alerts li').count(), 1, 'the alert raised under the old condition stays, once');
      await checkPage(page, 'patient-alerts');
    });
  });
});
