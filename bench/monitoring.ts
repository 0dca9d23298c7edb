/**
 * Remote monitoring: sustained device readings/s through ingest with 100 active alert rules vs the
 * same stream with no rules (same run, same database), and reading-to-notification latency (ingest
 * call → alert published to live subscribers) at a paced 1,000 readings/s.
 *
 * Throughput: batches for 100 patients with a rule each ("P-…") alternate with batches of the same shape
 * for 100 patients without rules ("Q-…"), so a load that changes during the run (the machine is shared)
 * weighs on both alike; each side's rate is its readings over the time its own ingest calls took. The
 * P batches of the same interleaved stream before any rule existed are printed beside it.
 */
import { createGateway } from '../app/gateway';
import { loadConfig } from '../config';
import { machine, openBenchDatabase, printTable } from './support';

const PATIENTS = 100;
const BATCH = 100;

function readings(tag: string, batch: number, value: (k: number) => number, group = 'P') {
  const entry = Array.from({ length: BATCH }, (_, k) => ({
    resource: {
      resourceType: 'Observation', id: `${tag}-${group}-${batch}-${k}`, status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { identifier: { system: 'urn:bench:mrn', value: `${group}-${k % PATIENTS}` } },
      effectiveDateTime: new Date(Date.UTC(2025, 0, 1) + batch * 60_000 + k).toISOString(),
      valueQuantity: { value: value(batch * BATCH + k), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    },
  }));
  return { resourceType: 'Bundle', type: 'collection', entry };
}

/**
 * `batches` a side for throughput (200: a side's time is about 5 s, so that one slow moment of the
 * shared machine moves the cost by a point, not by ten as with 50), `latencyBatches` for the paced
 * latency stream.
 */
export async function runMonitoringBench(batches = 200, latencyBatches = 50): Promise<void> {
  const db = await openBenchDatabase();
  const dir = (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/hgd-bench-`);
  const gateway = await createGateway(loadConfig({ HGD_DATA_DIR: dir, HGD_LOG: 'silent' }), { db, shareSink: null });
  // Each stream at its own times: a reading of the same patient, time and value as an earlier one is a
  // duplicate, which ingest recognises and neither stores nor evaluates. Returns the ms the call took.
  const ingestBatch = async (tag: string, batch: number, group: string) => {
    const t0 = performance.now();
    const summary = await gateway.ingest.ingest({ provider: 'bench', format: 'fhir-json', body: readings(tag, batch, () => 80, group) });
    if (summary.accepted !== BATCH) throw new Error(`stream ${tag}: ${summary.accepted} of ${BATCH} readings stored`);
    return performance.now() - t0;
  };
  const rate = (ms: number) => (batches * BATCH) / (ms / 1000);
  try {
    for (let b = 0; b < batches; b++) {
      await ingestBatch('warm', b, 'P'); // patients' keys, JIT, connection pool: not measured
      await ingestBatch('warm', b, 'Q');
    }
    let before = 0;
    for (let b = 0; b < batches; b++) {
      before += await ingestBatch('base', 10_000 + b, 'P');
      await ingestBatch('base', 10_000 + b, 'Q');
    }
    for (let p = 0; p < PATIENTS; p++) {
      await gateway.monitoring.rules.create(gateway.ingest.pseudonymOf('urn:bench:mrn', `P-${p}`), { indicator: 'heart_rate', condition: 'heart_rate > 130 for 5 min', notify: ['patient'] }, 'bench');
    }
    const spent = { rules: 0, none: 0 };
    for (let b = 0; b < batches; b++) {
      spent.rules += await ingestBatch('rules', 20_000 + b, 'P');
      spent.none += await ingestBatch('none', 20_000 + b, 'Q');
    }
    const [withRules, plain] = [rate(spent.rules), rate(spent.none)];
    // Latency: a threshold rule per patient that fires on every other reading, at 1,000 readings/s.
    for (let p = 0; p < PATIENTS; p++) {
      await gateway.monitoring.rules.create(gateway.ingest.pseudonymOf('urn:bench:mrn', `P-${p}`), { indicator: 'heart_rate', condition: 'heart_rate > 100', notify: ['patient'] }, 'bench');
    }
    const sent = new Map<string, number>();
    const latencies: number[] = [];
    for (let p = 0; p < PATIENTS; p++) gateway.monitoring.hub.subscribe(`patient:${gateway.ingest.pseudonymOf('urn:bench:mrn', `P-${p}`)}`, (a) => latencies.push(performance.now() - (sent.get(String(a.detail.effectiveStart).slice(0, 16)) ?? 0)));
    const start = performance.now();
    for (let b = 0; b < latencyBatches; b++) {
      const body = readings('lat', b + 30_000, (k) => (Math.floor(k / PATIENTS) % 2 ? 140 : 80));
      sent.set(new Date(Date.UTC(2025, 0, 1) + (b + 30_000) * 60_000).toISOString().slice(0, 16), performance.now());
      await gateway.ingest.ingest({ provider: 'bench', format: 'fhir-json', body });
      const wait = start + (b + 1) * 100 - performance.now(); // 100 readings every 100 ms
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await gateway.monitoring.monitor.idle();
    latencies.sort((a, b) => a - b);
    const pct = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
    printTable(`Remote monitoring on ${db.label}, ${machine()}, ${new Date().toISOString().slice(0, 10)}`, [
      { measure: `readings/s, ${PATIENTS} patients with a rule each`, value: withRules, unit: '/s', baseline: `interleaved, patients without rules ${Math.round(plain)} /s: cost ${(100 * (1 - withRules / plain)).toFixed(1)} % (before any rule: ${Math.round(rate(before))} /s)`, target: 'cost <= 20 %' },
      { measure: `reading → notification p50 (${latencies.length} alerts)`, value: pct(0.5), unit: 'ms', target: '' },
      { measure: 'reading → notification p99 at 1,000 readings/s', value: pct(0.99), unit: 'ms', target: '< 1,000 ms' },
    ]);
  } finally {
    await gateway.close();
    await db.close();
  }
}
