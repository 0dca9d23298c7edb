/** `npm run bench [-- NAME...]`: runs the named benchmarks (all by default). */
import { printTable } from './support';

const suites: Record<string, () => Promise<unknown>> = {
  ledger: async () => (await import('./ledger')).runLedgerBench(),
  ingest: async () => (await import('./ingest')).runIngestBench(), // hgd ingest bench (bench/ingest.ts)
  sharing: async () => {
    const rows = await (await import('./sharing')).runSharingBench();
    printTable('Secret sharing (one thread; baseline: drawing random field elements)', rows);
  },
  mpc: async () => {
    // Secure aggregates through three compute nodes vs the same query in plain SQL over plaintext.
    const rows = await (await import('./mpc')).runMpcBench(undefined, { log: (m) => console.error(m) });
    printTable('Secure aggregates vs plain SQL (same run)', rows.map((r) => ({
      measure: `${r.measure}, ${r.size.toLocaleString('en-US')} values`,
      value: r.secureMs,
      unit: 'ms',
      baseline: `plain SQL ${r.plainSqlMs.toFixed(1)} ms: ${r.ratio.toFixed(2)}x; ${r.bytesSent.toLocaleString('en-US')} B sent`,
      target: r.measure === 'correlation' ? '< 5 s at 100k pairs' : r.measure === 'mean' || r.measure === 'sum' ? '<= 3x' : '',
    })));
  },
  compare: async () => {
    // Secure comparisons and filtered aggregates through three node processes vs plain SQL (bench/compare.ts).
    const size = Number(process.env.HGD_BENCH_COMPARE_SIZE ?? 100_000);
    const baselineN = Number(process.env.HGD_BENCH_MPC_FRAMEWORK_N ?? 1_000);
    printTable('Secure comparisons (filters) vs plain SQL and mpc-framework (same run)', await (await import('./compare')).runCompareBench({ size, baselineN, log: (m) => console.error(m) }));
  },
  load: async () => (await import('./load')).runLoadBench(), // gateway process under sustained ingest + ledger reads (bench/load.ts)
  privacy: async () => (await import('./privacy')).runPrivacyBench(), // released error vs plaintext truth (bench/privacy.ts)
  monitoring: async () => (await import('./monitoring')).runMonitoringBench(), // rules' cost and alert latency (bench/monitoring.ts)
  transport: async () => {
    // Sealing every body between the parties vs signing the same body in clear (bench/transport.ts).
    printTable('Sealed bodies between the parties, per message (both ends; baseline: the same body signed in clear)', (await import('./transport')).runTransportBench());
  },
};

const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : Object.keys(suites);
for (const name of names) {
  const run = suites[name];
  if (!run) {
    console.error(`unknown benchmark "${name}"; choose from: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  await run();
}
process.exit(0);
