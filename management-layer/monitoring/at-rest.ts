/**
 * What monitoring keeps encrypted at rest (AES-256-GCM, management-layer/ingest/envelope.ts, under the
 * key ring's monitoring key): an alert's detail (the value that raised it, its unit and time, the
 * condition, a break-the-glass reason) bound to the alert id, and a webhook's signing secret bound to
 * the webhook id. A row's sealed column cannot be moved to another row: the id is the associated data.
 */
import type { Knex } from 'knex';
import type { Migration } from '../../storage-layer/migrate';
import { open, seal } from '../ingest/envelope';

export class MonitoringSealer {
  constructor(private readonly key: Buffer) {}

  sealDetail(alertId: string, detail: Record<string, unknown>): Buffer {
    return seal(this.key, Buffer.from(JSON.stringify(detail), 'utf8'), `alert-detail:${alertId}`);
  }

  openDetail(alertId: string, sealed: Uint8Array): Record<string, unknown> {
    return JSON.parse(open(this.key, Buffer.from(sealed), `alert-detail:${alertId}`).toString('utf8')) as Record<string, unknown>;
  }

  sealSecret(webhookId: string, secret: string): Buffer {
    return seal(this.key, Buffer.from(secret, 'utf8'), `webhook-secret:${webhookId}`);
  }

  openSecret(webhookId: string, sealed: Uint8Array): string {
    return open(this.key, Buffer.from(sealed), `webhook-secret:${webhookId}`).toString('utf8');
  }
}

/** Seals the details and secrets stored in clear before monitoring-003, and clears the clear columns. */
async function sealStoredInClear(trx: Knex.Transaction, sealer: MonitoringSealer): Promise<void> {
  const alerts = (await trx('monitoring_alerts').whereNull('detail_sealed').select('seq', 'id', 'detail')) as Array<{ seq: number; id: string; detail: Record<string, unknown> | string }>;
  for (const a of alerts) {
    const detail = typeof a.detail === 'string' ? (JSON.parse(a.detail) as Record<string, unknown>) : a.detail;
    await trx('monitoring_alerts').where({ seq: a.seq }).update({ detail_sealed: sealer.sealDetail(a.id, detail), detail: null });
  }
  const hooks = (await trx('monitoring_webhooks').whereNull('secret_sealed').select('id', 'secret')) as Array<{ id: string; secret: string }>;
  for (const h of hooks) await trx('monitoring_webhooks').where({ id: h.id }).update({ secret_sealed: sealer.sealSecret(h.id, h.secret), secret: null });
}

/** The monitoring migration that needs the key: sealed columns, and what was stored in clear sealed. */
export function monitoringDataMigrations(sealer: MonitoringSealer): Migration[] {
  return [
    {
      id: 'monitoring-003-sealed-at-rest',
      statements: [
        'ALTER TABLE monitoring_alerts ADD COLUMN detail_sealed bytea',
        'ALTER TABLE monitoring_alerts ALTER COLUMN detail DROP NOT NULL',
        'ALTER TABLE monitoring_webhooks ADD COLUMN secret_sealed bytea',
        'ALTER TABLE monitoring_webhooks ALTER COLUMN secret DROP NOT NULL',
      ],
      run: (trx) => sealStoredInClear(trx, sealer),
    },
  ];
}
