import { runMigrations } from '../../storage-layer/migrate';
import { ledgerMigrations } from '../../storage-layer/ledger-schema';
import { Ledger, type LedgerOptions } from '../../storage-layer/ledger';
import { generateSigningKey } from '../../storage-layer/signing-key';
import type { Database } from '../../storage-layer/db';

export async function openTestLedger(db: Database, overrides: Partial<LedgerOptions> = {}): Promise<Ledger> {
  await runMigrations(db, ledgerMigrations);
  return Ledger.open(db, { signingKey: generateSigningKey(), checkpointEvery: 100, checkpointIntervalMs: 60_000, maxBatch: 500, ...overrides });
}
