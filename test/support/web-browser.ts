/**
 * The web app's browser tests' shared pieces: the Chromium they drive, building web/dist when it is
 * stale, axe-core, and the per-page check (no serious violation, no stack, fits 375 px, screenshot).
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const DIST = path.join(ROOT, 'web', 'dist');
const SHOTS = process.env.HGD_WEB_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : null;

/** The newest modification time under a folder. */
function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return t;
}

/** Builds web/dist when it is missing or older than web/src (npm install builds it; this catches edits since). */
export async function ensureBuilt(): Promise<void> {
  const index = path.join(DIST, 'index.html');
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newest(path.join(ROOT, 'web', 'src'))) return;
  const { build } = await import('vite');
  await build({ root: path.join(ROOT, 'web'), logLevel: 'warn' });
}

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }

/** axe-core in the page, WCAG 2.0/2.1 A and AA rules: the serious and critical violations. */
async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated, not added as a <script>: the gateway's Content Security Policy (script-src 'self') stays on.
  await page.evaluate(axeSource);
  // A string, run in the page (whose globals the suite's Node typings do not know).
  const violations = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Flow 5 on the page as it is now (axe-core, no stack, fits 375 px), and its screenshot (full page) when screenshots are asked for. */
export async function checkPage(page: Page, name: string, screenshot = true): Promise<void> {
  const bad = await seriousViolations(page);
  assert.deepEqual(bad, [], `${name}: axe-core found serious or critical violations:\n${JSON.stringify(bad, null, 1)}`);
  const text = await page.locator('body').innerText();
  assert.doesNotMatch(text, /\bat .*\.(ts|js):\d+|TypeError|ReferenceError|Unexpected token/, `${name}: the page shows a stack or a raw exception`);
  // Responsive down to a phone: at 375 px nothing makes the page scroll sideways (tables scroll in their own regions).
  const size = page.viewportSize();
  await page.setViewportSize({ width: 375, height: 800 });
  // Charts follow their box on a later ResizeObserver round: give the layout up to 5 s to settle (a loaded CI machine).
  await page.waitForFunction('document.documentElement.scrollWidth <= document.documentElement.clientWidth', undefined, { timeout: 5000 }).catch(() => {});
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  if (size) await page.setViewportSize(size);
  assert.ok(overflow <= 0, `${name}: at 375 px the page scrolls sideways by ${overflow} px`);
  if (SHOTS && screenshot) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }
}

/** Skips the suite without /usr/bin/chromium, except in CI (HGD_REQUIRE_BROWSER=1), where it fails. */
export function requireChromium(ctx: Mocha.Context): void {
  if (fs.existsSync(CHROMIUM)) return;
  if (process.env.HGD_REQUIRE_BROWSER === '1') throw new Error(`${CHROMIUM} is missing (apt-get install chromium); CI requires the browser tests`);
  console.log(`      skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
  ctx.skip();
}

const SETTLED = /^Query ([0-9a-f]{8}): (done|failed|suppressed|refused)$/;

/**
 * Clicks "Run query" in the researcher's page and waits for THIS query's settled status: the previous
 * query's status stays on the page until the new one replaces it, so it is excluded by its id.
 * Returns the status text and the query's id prefix (8 hex digits).
 */
export async function runQuery(page: Page): Promise<{ text: string; id: string }> {
  const earlier = (await page.getByRole('status').filter({ hasText: SETTLED }).allInnerTexts()).map((t) => SETTLED.exec(t)![1]!);
  await page.getByRole('button', { name: 'Run query' }).click();
  let status = page.getByRole('status').filter({ hasText: SETTLED });
  if (earlier.length) status = status.filter({ hasNotText: new RegExp(earlier.join('|')) });
  await status.waitFor();
  const text = await status.innerText();
  return { text, id: SETTLED.exec(text)![1]! };
}
