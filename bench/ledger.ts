/**
 * `npm run bench -- ledger`: ledger append, verification and proof throughput, against a plain
 * batched INSERT of the same payloads (no hashing, no chain) measured in the same run.
 */
import { runMigrations } from '../storage-layer/migrate';
import { ledgerMigrations } from '../storage-layer/ledger-schema';
import { Ledger } from '../storage-layer/ledger';
import { generateSigningKey } from '../storage-layer/signing-key';
import { databaseSource, verifyLedger } from '../storage-layer/verify-ledger';
import { verifyEntries } from '../storage-layer/verify/verifier';
import { nobleCrypto } from '../storage-layer/noble-crypto';
import { DEFAULT_ORIGIN } from '../storage-layer/checkpoint';
import { fromBase64 } from '../storage-layer/bytes';
import { verifyInclusion } from '../storage-layer/merkle';
import { canonicalJson } from '../storage-layer/canonical-json';
import { randomBytes } from 'node:crypto';
import { machine, openBenchDatabase, printTable, timed, type BenchRow } from './support';

const N = Number(process.env.HGD_BENCH_LEDGER_N ?? 100_000);
const PRODUCERS = 16;
const SYNC_APPENDS = 3_000;

const payload = (i: number) => ({ batch: `b-${i}`, records: 50, commitment: 'sha256:'.concat(i.toString(16).padStart(64, '0')), provider: 'org:bench' });

export async function runLedgerBench(): Promise<BenchRow[]> {
  const db = await openBenchDatabase(PRODUCERS);
  console.log(`ledger benchmark on ${db.label}, ${machine()}, ${N.toLocaleString('en-US')} entries`);
  await runMigrations(db, ledgerMigrations);
  const rows: BenchRow[] = [];

  // Baseline: plain batched INSERT of the same payloads as JSON text, 500 a statement, no hashing.
  await db.knex.raw('CREATE TABLE plain_entries (seq bigint PRIMARY KEY, kind text, actor text, recorded_at timestamptz, body bytea)');
  const baseline = await timed(async () => {
    for (let i = 0; i < N; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(i + 500, N); j++) batch.push({ seq: j, kind: 'ingestion', actor: 'org:bench', recorded_at: new Date(), body: Buffer.from(JSON.stringify(payload(j))) });
      await db.knex('plain_entries').insert(batch);
    }
  });
  const baselineRate = N / (baseline.ms / 1000);
  rows.push({ measure: 'baseline: plain batched INSERT (500/stmt, no hashing)', value: baselineRate, unit: 'entries/s' });

  // Context for the gap: the same plain INSERT into a table shaped like the ledger (two 32-byte
  // hash columns, UNIQUE(prev_hash)), with random bytes instead of hashes.
  await db.knex.raw('CREATE TABLE shaped_entries (seq bigint PRIMARY KEY, kind text, actor text, recorded_at timestamptz, body bytea, leaf_hash bytea, prev_hash bytea UNIQUE)');
  const shaped = await timed(async () => {
    for (let i = 0; i < N; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(i + 500, N); j++) {
        batch.push({ seq: j, kind: 'ingestion', actor: 'org:bench', recorded_at: new Date(), body: Buffer.from(JSON.stringify(payload(j))), leaf_hash: randomBytes(32), prev_hash: randomBytes(32) });
      }
      await db.knex('shaped_entries').insert(batch);
    }
  });
  rows.push({ measure: 'baseline: same, into a ledger-shaped table (+2 hash columns, UNIQUE(prev_hash))', value: N / (shaped.ms / 1000), unit: 'entries/s' });

  const signingKey = generateSigningKey();
  const trust = { origin: DEFAULT_ORIGIN, logKeys: [{ name: DEFAULT_ORIGIN, publicKey: fromBase64(signingKey.publicKeyBase64) }], witnesses: [], quorum: 0 };
  const ledger = await Ledger.open(db, { signingKey, checkpointEvery: 10_000, checkpointIntervalMs: 5_000, maxBatch: 500 });
  const group = await timed(async () => {
    let next = 0;
    await Promise.all(Array.from({ length: PRODUCERS }, async () => {
      // Each producer keeps 64 appends in flight, like a busy request handler.
      while (next < N) {
        const wave = [];
        for (let k = 0; k < 64 && next < N; k++) wave.push(ledger.append({ kind: 'ingestion', actor: 'org:bench', payload: payload(next++) }));
        await Promise.all(wave);
      }
    }));
  });
  const groupRate = N / (group.ms / 1000);
  rows.push({ measure: `group commit, ${PRODUCERS} concurrent producers`, value: groupRate, unit: 'entries/s', baseline: `${((groupRate / baselineRate) * 100).toFixed(0)}% of plain INSERT, ${((groupRate / (N / (shaped.ms / 1000))) * 100).toFixed(0)}% of ledger-shaped`, target: '>= 5,000/s and >= 50% of baseline' });

  const single = await timed(async () => {
    for (let i = 0; i < SYNC_APPENDS; i++) await ledger.append({ kind: 'query', actor: 'researcher:bench', payload: payload(i) });
  });
  const plainSingle = await timed(async () => {
    for (let i = 0; i < SYNC_APPENDS; i++) {
      await db.knex('plain_entries').insert({ seq: N + i, kind: 'query', actor: 'researcher:bench', recorded_at: new Date(), body: Buffer.from(canonicalJson(payload(i))) });
    }
  });
  const singleRate = SYNC_APPENDS / (single.ms / 1000);
  const plainSingleRate = SYNC_APPENDS / (plainSingle.ms / 1000);
  rows.push({ measure: 'baseline: single-row INSERT, one at a time', value: plainSingleRate, unit: 'rows/s' });
  rows.push({ measure: 'synchronous single appends (await each)', value: singleRate, unit: 'appends/s', baseline: `${((singleRate / plainSingleRate) * 100).toFixed(0)}% of single INSERT`, target: '>= 1,000/s' });
  await ledger.checkpointNow();

  const verify = await timed(() => verifyLedger(db, { trust }));
  if (!verify.result.ok) throw new Error(`verification failed: ${JSON.stringify(verify.result.damage)}`);
  const plainScan = await timed(() => db.knex('plain_entries').select('*'));
  const verifyRate = verify.result.entries / (verify.ms / 1000);
  rows.push({ measure: 'baseline: SELECT * of the plain table', value: plainScan.result.length / (plainScan.ms / 1000), unit: 'rows/s' });
  rows.push({ measure: `full verification, node:crypto (${verify.result.entries.toLocaleString('en-US')} entries, trusted keys)`, value: verifyRate, unit: 'entries/s', target: '>= 100,000/s' });
  // The same verifier on @noble (no node:crypto, no Buffer): what a browser would run.
  const browser = await timed(() => verifyEntries({ source: databaseSource(db), crypto: nobleCrypto, trust }));
  if (!browser.result.ok) throw new Error(`verification (noble) failed: ${JSON.stringify(browser.result.damage)}`);
  rows.push({ measure: 'full verification, @noble crypto (the browser path)', value: browser.result.entries / (browser.ms / 1000), unit: 'entries/s' });

  const cp = (await ledger.checkpointNow())!;
  const root = Buffer.from(cp.rootHash, 'hex');
  const proofs = 2_000;
  let okCount = 0;
  const proofTime = await timed(async () => {
    for (let i = 0; i < proofs; i++) {
      const seq = Math.floor(Math.random() * cp.treeSize);
      const { entry, proof } = await ledger.entryWithProof(seq);
      if (verifyInclusion(Buffer.from(entry.leafHash, 'hex'), proof.leafIndex, proof.treeSize, proof.hashes.map((h) => Buffer.from(h, 'hex')), root)) okCount++;
    }
  });
  if (okCount !== proofs) throw new Error('an inclusion proof failed');
  // The check alone (what a client does with a proof it holds).
  const sample = await ledger.entryWithProof(Math.floor(cp.treeSize / 3));
  const leaf = Buffer.from(sample.entry.leafHash, 'hex');
  const hashes = sample.proof.hashes.map((h) => Buffer.from(h, 'hex'));
  const t0 = performance.now();
  for (let i = 0; i < 10_000; i++) verifyInclusion(leaf, sample.proof.leafIndex, sample.proof.treeSize, hashes, root);
  const checkMs = (performance.now() - t0) / 10_000;
  rows.push({ measure: `inclusion-proof check (${hashes.length} hashes)`, value: checkMs, unit: 'ms', target: '< 1 ms' });
  rows.push({ measure: 'fetch entry + build proof + check (incl. DB read)', value: proofTime.ms / proofs, unit: 'ms' });

  await ledger.close();
  await db.close();
  printTable(`Ledger (${db.label})`, rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runLedgerBench().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
