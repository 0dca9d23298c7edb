import { samplePolyaHalfPair, sampleNoisePart, discreteLaplaceVariance } from '../mpc/dp-noise';
for (const b of [3, 250, 35000, 1.5e7]) {
  const N = b > 1e6 ? 200 : 5000;
  const t0 = performance.now();
  let s = 0, s2 = 0;
  for (let i = 0; i < N; i++) { const z = Number(sampleNoisePart(b, 2)); s += z; s2 += z * z; }
  const ms = (performance.now() - t0) / N;
  console.log(b, 'mean', s / N, 'var ratio (expect 0.5)', s2 / N / discreteLaplaceVariance(b), 'ms/sample', ms.toFixed(3));
}
