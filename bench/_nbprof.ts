import { sampleGeometric, samplePolyaHalfPair } from '../mpc/dp-noise';
let t0 = performance.now();
for (let i = 0; i < 50; i++) sampleGeometric(1.5e7);
console.log('geom ms', (performance.now() - t0) / 50);
t0 = performance.now();
for (let i = 0; i < 20; i++) samplePolyaHalfPair(1.5e7);
console.log('pair ms', (performance.now() - t0) / 20);
