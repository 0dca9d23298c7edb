import { strict as assert } from 'node:assert';
import { configuredKeyRing } from '../app/gateway';
import { IngestService, type ShareSink } from '../management-layer/ingest/ingest-service';
import type { ShareableValue } from '../management-layer/sharing/distribute';
import { startTestGateway, type TestGateway } from './support/gateway';

/** A share sink whose answer each test sets: every node holds the shares, one failed, it throws, or it never answers. */
class ScriptedSink implements ShareSink {
  mode: 'deliver' | 'fail' | 'throw' | 'hang' = 'deliver';
  readonly calls: ShareableValue[][] = [];
  async distribute(values: ShareableValue[]): Promise<{ failed: Array<{ node: number }> }> {
    this.calls.push(values);
    if (this.mode === 'throw') throw new Error('network down');
    if (this.mode === 'hang') return new Promise(() => undefined);
    return { failed: this.mode === 'fail' ? [{ node: 3 }] : [] };
  }
}

let seq = 0;
/** NDJSON of `n` heart-rate Observations of one patient, unique per call. */
function upload(n: number): string {
  const run = seq++;
  return Array.from({ length: n }, (_, i) => JSON.stringify({
    resourceType: 'Observation', id: `claims-${run}-${i}`, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { identifier: { system: 'http://claims.example/mrn', value: 'C-1' } },
    effectiveDateTime: new Date(Date.UTC(2024, 0, 1, 0, run, i)).toISOString(),
    valueQuantity: { value: 60 + i, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  })).join('\n');
}

describe('sharing a fresh upload: records stored marked, unmarked only when a node missed them', function () {
  this.timeout(60_000);
  let t: TestGateway;
  const sink = new ScriptedSink();

  before(async () => {
    t = await startTestGateway({}, { shareSink: sink });
  });
  after(() => t.close());

  const ingest = async (n: number) => {
    const s = await t.gateway.ingest.ingest({ provider: 'claims', format: 'ndjson', body: upload(n) });
    assert.equal(s.accepted, n);
    return s.batchId;
  };
  const unshared = async (batchId: string) => Number((await t.gateway.db.knex('records').where({ batch_id: batchId }).whereNull('shared_at').count<{ c: string | number }[]>('* as c'))[0]!.c);
  const pending = async (batchId: string) => Boolean((await t.gateway.db.knex('ingest_batches').where({ id: batchId }).first('shares_pending')).shares_pending);

  it('delivered to every node: nothing is left for the outbox and the batch is settled', async () => {
    sink.mode = 'deliver';
    const calls = sink.calls.length;
    const batch = await ingest(5);
    assert.equal(sink.calls.length, calls + 1);
    assert.equal(sink.calls.at(-1)!.length, 5);
    assert.equal(await unshared(batch), 0);
    assert.equal(await pending(batch), false);
    assert.equal(await t.gateway.ingest.shareOutstanding(), 0);
    assert.equal(sink.calls.length, calls + 1, 'the outbox shared nothing again');
  });

  for (const mode of ['fail', 'throw'] as const) {
    it(`a node missed them (${mode}): the records go back to the outbox, which shares them once more`, async () => {
      sink.mode = mode;
      const batch = await ingest(4);
      assert.equal(await unshared(batch), 4);
      assert.equal(await pending(batch), false);
      sink.mode = 'deliver';
      assert.equal(await t.gateway.ingest.shareOutstanding(), 4);
      assert.equal(await unshared(batch), 0);
    });
  }

  it('a gateway that stopped before the nodes answered: another process re-shares the batch after the grace period', async () => {
    sink.mode = 'hang';
    const body = upload(3);
    void t.gateway.ingest.ingest({ provider: 'claims', format: 'ndjson', body }); // never settles: the "stopped" gateway
    const deadline = Date.now() + 20_000;
    let batch: string | undefined;
    while (!batch) {
      const row = await t.gateway.db.knex('ingest_batches').where({ shares_pending: true }).first('id');
      batch = row?.id;
      if (!batch && Date.now() > deadline) throw new Error('the batch was never committed');
      if (!batch) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await unshared(batch), 0, 'stored marked while the nodes had not answered');

    // Another gateway process on the same database (its own IngestService, nothing in flight).
    sink.mode = 'deliver';
    const restarted = new IngestService(t.gateway.db, t.gateway.ledger, configuredKeyRing(t.config), sink);
    assert.equal(await restarted.shareOutstanding(), 0, 'a batch younger than the grace period is taken to be in flight');
    assert.equal(await pending(batch), true);

    await t.gateway.db.knex('ingest_batches').where({ id: batch }).update({ received_at: new Date(Date.now() - 3_600_000) });
    const before = sink.calls.length;
    assert.equal(await restarted.shareOutstanding(), 3);
    assert.equal(sink.calls.length, before + 1);
    assert.equal(sink.calls.at(-1)!.length, 3);
    assert.equal(await unshared(batch), 0);
    assert.equal(await pending(batch), false);
  });
});
