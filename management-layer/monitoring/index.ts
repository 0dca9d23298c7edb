/** Remote monitoring: alert rules evaluated at ingest, alerts on the ledger, SSE and webhook delivery. */
export { monitoringMigrations } from './schema';
export { MonitoringSealer, monitoringDataMigrations } from './at-rest';
export { Monitor, type MonitorOptions } from './engine';
export { AlertHub } from './hub';
export { RuleService, type Rule, type RuleChange, type RuleInput, type RuleVersion } from './rules';
export { WebhookService, signPayload, type WebhookOptions } from './webhooks';
export { alertsAbout, alertsFor, alertId, type Alert, type Recipient } from './alerts';

import type { Database } from '../../storage-layer/db';
import type { MonitoringSealer } from './at-rest';
import type { Monitor } from './engine';
import type { AlertHub } from './hub';
import type { RuleService } from './rules';
import type { WebhookService } from './webhooks';

/** What the gateway builds once and the routes use. */
export interface MonitoringServices {
  db: Database;
  /** Opens alert details (sealed at rest). */
  sealer: MonitoringSealer;
  hub: AlertHub;
  monitor: Monitor;
  rules: RuleService;
  webhooks: WebhookService;
}
