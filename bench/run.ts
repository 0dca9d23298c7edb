/** `npm run bench [-- NAME...]`: runs the named benchmarks (all by default). */
const suites: Record<string, () => Promise<unknown>> = {
  ledger: async () => (await import('./ledger')).runLedgerBench(),
  ingest: async () => (await import('./ingest')).runIngestBench(), // hgd ingest bench (bench/ingest.ts)
  load: async () => (await import('./load')).runLoadBench(), // gateway process under sustained ingest + ledger reads (bench/load.ts)
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
export {};
