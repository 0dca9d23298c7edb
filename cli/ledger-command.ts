/**
 * `hgd ledger verify` and `hgd ledger checkpoint --export`. Trusted keys come from configuration
 * (the ledger key file's public half, HGD_LEDGER_TRUSTED_KEYS, HGD_WITNESSES) or from --trust FILE,
 * never from the ledger. Neither command builds a gateway: they open the database and the ledger only.
 */
import fs from 'node:fs';
import type { Config } from '../config';
import { openConfiguredDatabase } from '../app/gateway';
import { configuredWitnesses, httpWitnessTransport, trustFileFromConfig, witnessEndpoints } from '../app/ledger-trust';
import { Ledger } from '../storage-layer/ledger';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { verifyLedger, type VerifyReport } from '../storage-layer/verify-ledger';
import { trustFromFile, type TrustFile } from '../storage-layer/verify/trust';
import { exportCheckpoint, parseExportedCheckpoint } from '../storage-layer/checkpoint-export';
import { concatBytes } from '../storage-layer/bytes';
import type { Database } from '../storage-layer/db';

export interface VerifyCliOptions {
  json?: boolean;
  checkpoint?: string[];
  trust?: string;
}

export function formatReport(report: VerifyReport): string {
  if (!report.ok) {
    const d = report.damage!;
    return `ledger DAMAGED: first bad entry seq ${d.seq} (${d.kind}): ${d.detail}`;
  }
  const witnessed = report.latestWitnessedSize === null ? 'none witnessed' : `latest witnessed at size ${report.latestWitnessedSize}`;
  const external = report.externalCheckpointsChecked ? `, ${report.externalCheckpointsChecked} exported checkpoint(s) match` : '';
  const trust = report.trusted ? '' : ' (no trusted keys: signatures not checked)';
  return `ledger OK: ${report.entries} entries, ${report.checkpointsChecked} checkpoints checked, ${report.witnessedCheckpoints} witnessed (${witnessed})${external}${trust} (${report.millis} ms)`;
}

function readTrust(config: Config, file: string | undefined): TrustFile {
  if (!file) return trustFileFromConfig(config);
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as TrustFile & { trust?: TrustFile };
  return parsed.trust ?? parsed;
}

/** A database nothing was ever migrated into holds no ledger to verify: say so, not "relation … does not exist". */
async function requireLedgerTables(db: Database): Promise<void> {
  if (!(await db.knex.schema.withSchema(db.schema).hasTable('ledger_checkpoints'))) {
    throw new Error(`no ledger in this database (schema ${db.schema}): nothing was ever migrated here; start the gateway once (hgd start) or run hgd migrate`);
  }
}

/** Exit code: 0 intact, 1 damaged. */
export async function ledgerVerify(config: Config, opts: VerifyCliOptions): Promise<number> {
  const trustFile = readTrust(config, opts.trust);
  const trust = trustFile.logKeys.length > 0 ? trustFromFile(trustFile) : undefined;
  const external = (opts.checkpoint ?? []).map((f) => parseExportedCheckpoint(fs.readFileSync(f, 'utf8'), f));
  const db = await openConfiguredDatabase(config);
  try {
    await requireLedgerTables(db);
    const report = await verifyLedger(db, { trust, external });
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

/** Signs a checkpoint now, asks the witnesses to cosign it, and writes it with its leaf hashes. */
export async function ledgerCheckpointExport(config: Config, file: string): Promise<string> {
  const db = await openConfiguredDatabase(config);
  const signingKey = loadOrCreateSigningKey(config.ledger.signingKeyFile);
  try {
    const ledger = await Ledger.open(db, {
      ...config.ledger, signingKey, witnesses: witnessEndpoints(config), quorum: configuredWitnesses(config).quorum,
      witnessTimeoutMs: config.witnesses.timeoutMs, transport: httpWitnessTransport(config), log: (m) => console.error(m),
    });
    try {
      const checkpoint = await ledger.publish();
      if (!checkpoint) throw new Error('the ledger is empty: nothing to export');
      const leaves = concatBytes(...Array.from({ length: checkpoint.treeSize }, (_, i) => ledger.leaf(i)));
      fs.writeFileSync(file, `${JSON.stringify(exportCheckpoint(checkpoint, trustFileFromConfig(config, signingKey), leaves), null, 2)}\n`);
      const witnessed = checkpoint.witnessedAt ? `witnessed at ${checkpoint.witnessedAt} (${checkpoint.cosignatures.length} cosignatures)` : `not witnessed (${checkpoint.cosignatures.length} of ${config.witnesses.quorum} cosignatures)`;
      return `exported checkpoint at size ${checkpoint.treeSize}, ${witnessed}, to ${file}`;
    } finally {
      await ledger.close();
    }
  } finally {
    await db.close();
  }
}
