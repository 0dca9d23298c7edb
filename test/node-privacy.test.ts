import { strict as assert } from 'node:assert';
import { NODE_TABLES } from '../usage-layer/node';
import { CHI2_15, homogeneity, makeValues, startTestCluster, uniformity, type TestCluster } from './support/mpc';


/** Every row of every node table, as PostgreSQL prints it. */
async function dumpNode(tc: TestCluster, node: number): Promise<string> {
  const parts: string[] = [];
  for (const table of NODE_TABLES) {
    const r = await tc.dbs[node - 1]!.knex.raw(`SELECT t::text AS row FROM ${table} t`);
    for (const row of r.rows as Array<{ row: string }>) parts.push(row.row);
  }
  return parts.join('\n');
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
/** `needle` as a whole number token (not part of a longer number). */
const asToken = (needle: string) => new RegExp(`(?<![0-9.])${escape(needle)}(?![0-9]|\\.[0-9])`);

/** Likely printed forms of a value v at scale s: decimal forms and the scaled integers of v and v². */
function forms(v: number, scale: number): string[] {
  const scaled = BigInt(Math.round(v * 10 ** scale));
  const abs = scaled < 0n ? -scaled : scaled;
  const out = new Set([String(v), String(Math.abs(v)), v.toFixed(scale), Math.abs(v).toFixed(scale), String(scaled), String(abs), String(abs * abs), String(v * v)]);
  return [...out].filter((f) => f.replace(/[^0-9]/g, '').length >= 3);
}

describe('node privacy', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster();
  });
  after(async () => tc?.close());

  it('no plaintext value appears in any node database dump or node log', async () => {
    const short = [5.55, -7.25, 123.4, 42.42, 0.99, -650.01];
    const long = [98765.4321, -1234.5678];
    const xs = makeValues('secret-short', short, { scale: 2 });
    const ls = makeValues('secret-long', long, { scale: 4 }).map((v, i) => ({ ...v, pseudonym: xs[i]!.pseudonym, effectiveStart: xs[i]!.effectiveStart }));
    const r = await tc.distributor.distribute([...xs, ...ls]);
    assert.deepEqual(r.delivered, [1, 2, 3]);
    // Exercise every query path so the logs cover them.
    for (const aggregate of ['count', 'sum', 'mean', 'variance', 'stddev'] as const) await tc.coordinator.aggregate({ indicator: 'secret-short', aggregate });
    const cohort = [...new Set(xs.map((x) => x.pseudonym))];
    await tc.coordinator.aggregate({ indicator: 'secret-short', aggregate: 'histogram', cohort, perPatient: 1, edges: [-1000, 0, 1000], domain: { min: -1000, max: 1000, scale: 2 } });
    await tc.coordinator.aggregate({ indicator: 'secret-short', indicator2: 'secret-long', aggregate: 'correlation', pairWindowSeconds: 0 });
    await tc.coordinator.aggregate({ indicator: 'secret-short', aggregate: 'sum', noise: { epsilon: 1, sensitivity: 1000 } });
    await tc.coordinator.aggregate({ indicator: 'secret-short', aggregate: 'sum', from: 'not a date' }).catch(() => undefined);

    // Sanity: the checks do find values that are there.
    assert.ok(asToken('5.55').test('x 5.55 y') && asToken('555').test('(555,') && !asToken('555').test('15550'));

    for (let node = 1; node <= 3; node++) {
      const dump = await dumpNode(tc, node);
      assert.ok(dump.length > 1000, 'the dump has the rows');
      const logs = tc.logs[node - 1]!.join('\n');
      assert.ok(logs.includes('/aggregate/product'), 'the logs cover the queries');
      for (const v of short) {
        for (const f of forms(v, 2)) {
          assert.ok(!asToken(f).test(dump), `node ${node} database contains ${f} (value ${v})`);
          assert.ok(!asToken(f).test(logs), `node ${node} log contains ${f} (value ${v})`);
        }
      }
      for (const v of long) {
        for (const f of forms(v, 4)) {
          assert.ok(!dump.includes(f), `node ${node} database contains ${f} (value ${v})`);
          assert.ok(!logs.includes(f), `node ${node} log contains ${f}`);
        }
      }
      // Logs carry no shares either (32-hex transport form or long decimals).
      assert.ok(!/[0-9a-f]{32}/.test(logs) && !/[0-9]{20,}/.test(logs), `node ${node} logged something share-like`);
    }
  });

  it('a node stores only record id, pseudonym, indicator, time, scale, dealing, digest term, source kind and shares (and the query ids it ran)', async () => {
    const cols = await tc.dbs[0]!.knex.raw("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name LIKE 'node_%' ORDER BY table_name, ordinal_position");
    const byTable: Record<string, string[]> = {};
    for (const c of cols.rows as Array<{ table_name: string; column_name: string }>) (byTable[c.table_name] ??= []).push(c.column_name);
    assert.deepEqual(byTable, {
      node_indicator_scales: ['indicator', 'scale'],
      node_query_ids: ['query_id', 'kind', 'started_at'],
      node_shares: ['record_id', 'pseudonym', 'indicator', 'effective_start', 'effective_end', 'scale', 'dealing', 'rid_hash', 'share', 'square', 'source'],
    });
  });

  it('one node’s stored shares look uniform and the same for all-zeros and all-10^6 data', async () => {
    const N = 4096;
    const zeros = makeValues('priv-zeros', new Array<number>(N).fill(0), { scale: 4, patients: 50 });
    const millions = makeValues('priv-millions', new Array<number>(N).fill(1e6), { scale: 4, patients: 50 });
    await tc.distributor.distribute([...zeros, ...millions]);
    for (let node = 1; node <= 3; node++) {
      const read = async (indicator: string) => {
        const r = await tc.dbs[node - 1]!.knex.raw(
          'SELECT s.share::text AS share, s.square::text AS square FROM node_shares s WHERE s.indicator = ?',
          [indicator],
        );
        const rows = r.rows as Array<{ share: string; square: string }>;
        return { share: rows.map((x) => BigInt(x.share)), square: rows.map((x) => BigInt(x.square)) };
      };
      const a = await read('priv-zeros');
      const b = await read('priv-millions');
      assert.equal(a.share.length, N);
      for (const key of ['share', 'square'] as const) {
        const ua = uniformity(a[key]);
        const ub = uniformity(b[key]);
        assert.ok(ua.pass, `zeros, node ${node}, ${key}: ${JSON.stringify(ua)}`);
        assert.ok(ub.pass, `10^6, node ${node}, ${key}: ${JSON.stringify(ub)}`);
        assert.ok(homogeneity(a[key], b[key]) < CHI2_15, `node ${node}, ${key}: indistinguishable`);
      }
      assert.equal(new Set(a.share.map(String)).size, N, 'no repeated share');
    }
    // Together (t + 1 = 2 nodes) they do determine the values, which the aggregate confirms.
    const sum = await tc.coordinator.aggregate({ indicator: 'priv-millions', aggregate: 'sum' });
    assert.equal(sum.value, N * 1e6);
  });
});
