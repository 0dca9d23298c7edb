/**
 * The database's writer lease: one row naming the gateway that may run the start-up duties that
 * assume no other gateway is alive (today: recovering the queries a stopped gateway left queued or
 * running). Works the same on PGlite and PostgreSQL and across processes and hosts:
 *
 * - A holder is a random id per gateway process. Taking and renewing are one atomic upsert that
 *   succeeds only if the row is ours or its lease has expired (expiry on the database's clock, so
 *   hosts' clocks do not matter).
 * - The holder renews every third of the lease; a gateway that does not hold it retries as often,
 *   so a lease left by a gateway that was killed is taken over at most one lease period later.
 * - `onAcquired` runs each time the lease is newly taken (not on a renewal). close() gives the lease
 *   up, so a clean restart takes it at once.
 *
 * A holder that stalls past its lease can overlap a new holder for a moment; what the lease guards
 * is then still safe, because finishing a query is a compare-and-set (usage-layer/queries).
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Database } from '../storage-layer/db';
import type { Migration } from '../storage-layer/migrate';

export const writerLeaseMigrations: Migration[] = [
  {
    id: 'app-001-writer-lease',
    statements: [
      `CREATE TABLE writer_lease (
        name text PRIMARY KEY,
        holder text NOT NULL,
        acquired_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      )`,
    ],
  },
];

const LEASE = 'gateway';

export interface WriterLeaseOptions {
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  /** Runs once each time this gateway newly takes the lease. */
  onAcquired: () => Promise<unknown>;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

export class WriterLease {
  readonly holder = `${os.hostname()}:${process.pid}:${randomUUID()}`;
  private heldFlag = false;
  private timer: NodeJS.Timeout | null = null;
  private tick: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: Database,
    private readonly options: WriterLeaseOptions,
  ) {}

  /** Tries to take the lease once (running onAcquired if it did), then keeps renewing or retrying. */
  static async start(db: Database, options: WriterLeaseOptions): Promise<WriterLease> {
    const lease = new WriterLease(db, options);
    await lease.attempt();
    lease.timer = setInterval(() => {
      lease.tick = lease.tick.then(() => lease.attempt());
    }, Math.max(50, Math.floor(options.leaseMs / 3)));
    lease.timer.unref();
    return lease;
  }

  /** Whether this gateway held the lease at its last successful attempt. */
  get held(): boolean {
    return this.heldFlag;
  }

  /** One take-or-renew; a database error leaves the state as it was (retried at the next tick). */
  private async attempt(): Promise<void> {
    let acquired: boolean;
    try {
      acquired = await this.takeOrRenew();
    } catch (err) {
      this.options.log('writer lease: could not reach the database; will retry', { reason: (err as Error).message });
      return;
    }
    const wasHeld = this.heldFlag;
    this.heldFlag = acquired;
    if (wasHeld && !acquired) this.options.log('writer lease: lost to another gateway', {});
    if (!wasHeld && acquired) {
      this.options.log('writer lease: taken', { holder: this.holder });
      await this.options.onAcquired().catch((err: Error) => this.options.log('writer lease: start-up duty failed', { reason: err.message }));
    }
  }

  /** True when the row is ours after the statement: newly taken, renewed, or taken over after expiry. */
  private async takeOrRenew(): Promise<boolean> {
    const res = await this.db.knex.raw(
      `INSERT INTO writer_lease AS l (name, holder, acquired_at, expires_at)
       VALUES (?, ?, now(), now() + make_interval(secs => ?))
       ON CONFLICT (name) DO UPDATE
         SET holder = EXCLUDED.holder,
             acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,
             expires_at = EXCLUDED.expires_at
         WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
       RETURNING holder`,
      [LEASE, this.holder, this.options.leaseMs / 1000],
    );
    return ((res.rows ?? []) as Array<{ holder: string }>).some((r) => r.holder === this.holder);
  }

  /** Stops renewing and gives the lease up (if held), so the next gateway takes it at once. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.tick;
    if (!this.heldFlag) return;
    this.heldFlag = false;
    await this.db.knex('writer_lease').where({ name: LEASE, holder: this.holder }).del().catch(() => {});
  }
}
