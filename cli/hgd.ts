/**
 * `hgd`: the command line. Every subcommand reads the same Config (config.ts).
 *   hgd start                         gateway (and, once they exist, its compute nodes)
 *   hgd migrate                       apply database migrations and exit
 *   hgd ledger verify [--json] [--checkpoint FILE]
 *   hgd ledger checkpoint --export FILE
 */
import fs from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config';
import { createGateway, openConfiguredDatabase, allMigrations } from '../app/gateway';
import { runMigrations } from '../storage-layer/migrate';
import { verifyLedger, type VerifyReport } from '../storage-layer/verify-ledger';
import { parseExportedCheckpoint } from '../storage-layer/checkpoint';
import { startServer } from '../app/server';

const program = new Command('hgd').description('Healthcare Data Gateway');

program
  .command('start')
  .description('start the gateway on the configured database (PGlite under ./data by default)')
  .action(async () => {
    await startServer(loadConfig());
  });

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const db = await openConfiguredDatabase(loadConfig());
    const applied = await runMigrations(db, allMigrations, (m) => console.error(m));
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    await db.close();
  });

const ledger = program.command('ledger').description('audit the ledger');

function printReport(report: VerifyReport): void {
  if (report.ok) {
    console.log(`ledger OK: ${report.entries} entries, ${report.checkpointsChecked} signed checkpoints checked${report.externalCheckpointChecked ? ', exported checkpoint matches' : ''} (${report.millis} ms)`);
  } else {
    const d = report.damage!;
    console.log(`ledger DAMAGED: first bad entry seq ${d.seq} (${d.kind}): ${d.detail}`);
  }
}

ledger
  .command('verify')
  .description('recompute every leaf, the chain and every signed root; exit 1 on damage')
  .option('--json', 'print the report as JSON')
  .option('--checkpoint <file>', 'also check against a checkpoint exported earlier (hgd ledger checkpoint --export)')
  .action(async (opts: { json?: boolean; checkpoint?: string }) => {
    const external = opts.checkpoint ? parseExportedCheckpoint(fs.readFileSync(opts.checkpoint, 'utf8')) : undefined;
    const db = await openConfiguredDatabase(loadConfig());
    try {
      const report = await verifyLedger(db, { external });
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else printReport(report);
      process.exitCode = report.ok ? 0 : 1;
    } finally {
      await db.close();
    }
  });

ledger
  .command('checkpoint')
  .description('sign a checkpoint now and export it to a file kept outside the database')
  .requiredOption('--export <file>', 'where to write the checkpoint JSON')
  .action(async (opts: { export: string }) => {
    const gateway = await createGateway(loadConfig());
    try {
      const checkpoint = await gateway.ledger.checkpointNow();
      if (!checkpoint) throw new Error('the ledger is empty: nothing to export');
      const exported = { ...checkpoint, publicKey: gateway.ledger.signingKey.publicKeyBase64 };
      fs.writeFileSync(opts.export, `${JSON.stringify(exported, null, 2)}\n`);
      console.log(`exported checkpoint at size ${checkpoint.treeSize} to ${opts.export}`);
    } finally {
      await gateway.close();
    }
  });

program.parseAsync(process.argv).catch((err: Error) => {
  console.error(`hgd: ${err.message}`);
  process.exit(2);
});
