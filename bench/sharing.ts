/**
 * Throughput of the sharing core: shareMany (n = 3, t = 1 and n = 5, t = 2), with a baseline measured in
 * the same run (drawing the random coefficients alone, the floor of any Shamir implementation), and
 * reconstruction of aggregates. Run directly: `npx tsx bench/sharing.ts`.
 */
import { pathToFileURL } from 'node:url';
import { randomElement } from '../mpc/field';
import { encode } from '../mpc/fixed-point';
import { reconstruct, shareMany } from '../mpc/shamir';

export interface Measure {
  measure: string;
  value: number;
  unit: string;
}

function rate(count: number, fn: () => void, minMs = 300): number {
  fn(); // warm-up
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    fn();
    runs++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (count * runs) / (elapsed / 1000);
}

export async function runSharingBench(): Promise<Measure[]> {
  const m = 100_000;
  const secrets = Array.from({ length: m }, (_, i) => encode(((i * 7919) % 20000) / 100 - 50, 4));
  const out: bigint[][] = [];
  const sink: bigint[] = new Array<bigint>(m);

  const baseline = rate(m, () => {
    for (let k = 0; k < m; k++) sink[k] = randomElement();
  });
  const values = Array.from({ length: m }, (_, i) => ((i * 7919) % 20000) / 100 - 50);
  const encodeRate = rate(m, () => {
    for (let k = 0; k < m; k++) sink[k] = encode(values[k] as number, 4);
  });
  const share31 = rate(m, () => shareMany(secrets, 3, 1, out));
  const share52 = rate(m, () => shareMany(secrets, 5, 2));
  const points = [
    { x: 1, y: 123n },
    { x: 2, y: 456n },
    { x: 3, y: 789n },
  ];
  const rec = rate(1, () => reconstruct(points.slice(0, 2), 1), 100);
  const recChecked = rate(1, () => reconstruct(points, 1), 100); // collinear: 3 shares, degree 1, checked

  return [
    { measure: 'baseline: random field elements (127-bit, crypto)', value: Math.round(baseline), unit: 'values/s' },
    { measure: 'encode (fixed point, scale 4)', value: Math.round(encodeRate), unit: 'values/s' },
    { measure: 'shareMany n=3 t=1', value: Math.round(share31), unit: 'values/s' },
    { measure: 'shareMany n=5 t=2', value: Math.round(share52), unit: 'values/s' },
    { measure: 'reconstruct from t+1=2 shares', value: Math.round(rec), unit: 'ops/s' },
    { measure: 'reconstruct from 3 shares, degree 1, consistency-checked', value: Math.round(recChecked), unit: 'ops/s' },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await runSharingBench()) console.log(`${r.measure}: ${r.value.toLocaleString('en')} ${r.unit}`);
}
