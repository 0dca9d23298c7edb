/**
 * The composition for administrative commands that open the database themselves (`hgd admin …` when
 * no gateway answers, see cli/admin-client.ts; `hgd ledger checkpoint --export`): the database
 * (migrated), the ledger, the identity store and the studies. It runs no queries, shares
 * nothing, serves no HTTP and never takes the writer lease, so running it beside a live gateway
 * cannot touch that gateway's queries (only the lease holder recovers interrupted ones).
 */
import type { Config } from '../config';
import type { Database } from '../storage-layer/db';
import { Ledger } from '../storage-layer/ledger';
import { runMigrations } from '../storage-layer/migrate';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { deriveKeyRing, loadMasterKey, pseudonymFor } from '../management-layer/ingest/envelope';
import { StudyService } from '../usage-layer/consent/studies';
import { IdentityService } from './identity';
import { allMigrations, openConfiguredDatabase } from './gateway';

export interface AdminServices {
  db: Database;
  ledger: Ledger;
  identity: IdentityService;
  studies: StudyService;
  close(): Promise<void>;
}

export interface AdminOptions {
  /** Use this database (tests); it is not closed by close(). */
  db?: Database;
  warn?: (msg: string) => void;
}

export async function openAdminServices(config: Config, options: AdminOptions = {}): Promise<AdminServices> {
  const db = options.db ?? (await openConfiguredDatabase(config));
  const closeDb = () => (options.db ? Promise.resolve() : db.close());
  try {
    await runMigrations(db, allMigrations, options.warn ?? (() => {}));
    const ledger = await Ledger.open(db, { ...config.ledger, signingKey: loadOrCreateSigningKey(config.ledger.signingKeyFile) });
    const keys = deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile));
    const identity = new IdentityService(db, ledger, (system, value) => pseudonymFor(keys, system, value));
    const studies = new StudyService(db, ledger, { minCohort: config.usage.minCohort, epsilonBudget: config.usage.epsilonBudget, maxContributions: config.usage.maxContributions });
    return {
      db,
      ledger,
      identity,
      studies,
      close: async () => {
        await ledger.close();
        await closeDb();
      },
    };
  } catch (err) {
    await closeDb();
    throw err;
  }
}
