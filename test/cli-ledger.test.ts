import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createGateway } from '../app/gateway';
import { openDatabase } from '../storage-layer/db';
import { pgliteDir } from '../config';
import { testConfig } from './support/config';
import { generateSigningKey } from '../storage-layer/signing-key';

/** Runs `hgd ...` as a separate process on the embedded database of `dataDir`. */
function hgd(dataDir: string, ...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, HGD_LOG: 'silent' };
  delete env.DATABASE_URL;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/hgd.ts', ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('hgd ledger (CLI, separate processes)', function () {
  this.timeout(120_000);

  it('says there is no ledger yet, instead of a missing relation, on a data folder nothing was migrated into', () => {
    const dataDir = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'hgd-empty-'));
    try {
      const r = hgd(dataDir, 'ledger', 'verify');
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /no ledger in this database/);
      assert.doesNotMatch(r.err, /does not exist/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exports a checkpoint, verifies, and names the first bad entry after a superuser edit', async () => {
    const config = testConfig({ HGD_LOG: 'silent' });
    const gateway = await createGateway(config);
    for (let i = 0; i < 30; i++) await gateway.ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { i } });
    await gateway.close();

    const file = path.join(config.dataDir, 'outside-checkpoint.json');
    const exp = hgd(config.dataDir, 'ledger', 'checkpoint', '--export', file);
    assert.equal(exp.code, 0, exp.err);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).treeSize >= 31, true);

    const ok = hgd(config.dataDir, 'ledger', 'verify', '--json', '--checkpoint', file);
    assert.equal(ok.code, 0, ok.err + ok.out);
    assert.deepEqual([JSON.parse(ok.out).ok, JSON.parse(ok.out).trusted, JSON.parse(ok.out).externalCheckpointsChecked], [true, true, 1]);

    // Keys come from configuration or --trust, never from the ledger: another key is not this ledger's.
    const trustFile = path.join(config.dataDir, 'other-trust.json');
    fs.writeFileSync(trustFile, JSON.stringify({ origin: config.ledger.origin, logKeys: [generateSigningKey().publicKeyBase64], witnesses: [], quorum: 0 }));
    const wrongKey = hgd(config.dataDir, 'ledger', 'verify', '--json', '--trust', trustFile);
    assert.equal(wrongKey.code, 1, wrongKey.err + wrongKey.out);
    assert.deepEqual([JSON.parse(wrongKey.out).damage.seq, JSON.parse(wrongKey.out).damage.kind], [0, 'untrusted-key']);

    const db = await openDatabase({ pgliteDir: pgliteDir(config) });
    await db.knex.transaction(async (trx) => {
      await trx.raw('SET LOCAL session_replication_role = replica');
      await trx.raw(`UPDATE ledger_entries SET canonical = convert_to(replace(convert_from(canonical, 'UTF8'), '"i":12', '"i":13'), 'UTF8') WHERE seq = 13`);
    });
    await db.close();

    const bad = hgd(config.dataDir, 'ledger', 'verify', '--json', '--checkpoint', file);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.out);
    assert.deepEqual([report.ok, report.damage.seq, report.damage.kind], [false, 13, 'modified']);
    const human = hgd(config.dataDir, 'ledger', 'verify');
    assert.equal(human.code, 1);
    assert.match(human.out, /first bad entry seq 13 \(modified\)/);
  });
});
