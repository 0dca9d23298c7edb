/**
 * A minimal migration runner. Each layer contributes its own list; statements run one at a
 * time (PGlite takes one statement per call) under an advisory lock, so several processes
 * starting together apply each migration once. They run on `db.migrationDatabase` (the owner)
 * when the connection is a restricted application role; on PostgreSQL the application role's
 * privileges are then granted anew (roles.ts), so a table added by any layer is covered.
 */
import type { Knex } from 'knex';
import type { Database } from './db';
import { appRoleGrants } from './roles';

export interface Migration {
  id: string;
  statements: string[];
  /** Only on real PostgreSQL (roles and grants mean nothing in single-user PGlite). */
  postgresOnly?: boolean;
  /** Failure is logged and skipped (e.g. CREATE ROLE without the privilege to do so). */
  optional?: boolean;
  /** Runs after the statements, in the same transaction: for data that only code can rewrite (re-encryption). */
  run?: (trx: Knex.Transaction) => Promise<void>;
}

const MIGRATION_LOCK = 7_324_001;

export async function runMigrations(db: Database, migrations: Migration[], log: (msg: string) => void = () => {}): Promise<string[]> {
  const applied: string[] = [];
  const owner = db.migrationDatabase ?? db;
  await owner.knex.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
    await trx.raw('CREATE TABLE IF NOT EXISTS hgd_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await trx('hgd_migrations').select('id')).map((r: { id: string }) => r.id));
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      if (m.postgresOnly && owner.kind !== 'postgres') continue;
      if (m.optional) {
        await trx.raw('SAVEPOINT optional_migration');
        try {
          for (const s of m.statements) await trx.raw(s);
          await m.run?.(trx);
          await trx.raw('RELEASE SAVEPOINT optional_migration');
        } catch (err) {
          await trx.raw('ROLLBACK TO SAVEPOINT optional_migration');
          log(`migration ${m.id} skipped: ${(err as Error).message}`);
          continue;
        }
      } else {
        for (const s of m.statements) await trx.raw(s);
        await m.run?.(trx);
      }
      await trx('hgd_migrations').insert({ id: m.id });
      applied.push(m.id);
    }
    if (owner.kind === 'postgres') await trx.raw(appRoleGrants());
  });
  return applied;
}
