/**
 * Webhooks: registered per recipient; every alert for that recipient is POSTed to each of its
 * webhooks, at least once. A delivery is a durable row written with the alert; the worker retries
 * a failed one with exponential backoff (base · 2^(attempt-1), capped) until it gets a 2xx or runs
 * out of attempts. Retries repeat the alert's id (body `id`, header X-HGD-Event-Id), so a receiver
 * drops duplicates by id. Each request is signed: X-HGD-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA-256 over "<t>.<body>"> with the webhook's secret (shown once, at registration; stored
 * sealed, at-rest.ts). A URL
 * pointing into the gateway's own network is refused at registration and before every attempt
 * (webhook-target.ts), unless its host is on the allow-list.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Database } from '../../storage-layer/db';
import { NotFoundError, ValidationError } from '../../storage-layer/errors';
import { fromAlertRow, type AlertRow, type Recipient } from './alerts';
import type { MonitoringSealer } from './at-rest';
import { refusedTarget } from './webhook-target';

export interface WebhookOptions {
  pollMs: number;
  retryBaseMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
  timeoutMs: number;
  allowHttp: boolean;
  /** Hosts allowed although internal (webhook-target.ts). */
  allowHosts: readonly string[];
}

export interface Webhook {
  id: string;
  url: string;
  createdAt: string;
}

export function signPayload(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A due delivery: the alert's row, its webhook's URL and secret (sealed; in clear only before monitoring-003). */
type DueDelivery = AlertRow & { webhook_id: string; attempts: number; url: string; secret: string | null; secret_sealed: Uint8Array | null };

export class WebhookService {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly db: Database, private readonly sealer: MonitoringSealer, private readonly options: WebhookOptions) {}

  async register(owner: Recipient, url: string): Promise<Webhook & { secret: string }> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ValidationError('"url" must be an absolute URL', 'url');
    }
    const schemes = this.options.allowHttp ? ['https:', 'http:'] : ['https:'];
    if (!schemes.includes(parsed.protocol)) throw new ValidationError(`"url" must use ${schemes.join(' or ')}`, 'url');
    const refused = await refusedTarget(parsed, this.options.allowHosts);
    if (refused) throw new ValidationError(`"url" is refused: ${refused}`, 'url');
    const hook = { id: randomUUID(), owner, url: parsed.toString(), secret: randomBytes(32).toString('base64url') };
    const [row] = (await this.db.knex('monitoring_webhooks').insert({ id: hook.id, owner, url: hook.url, secret: null, secret_sealed: this.sealer.sealSecret(hook.id, hook.secret) }).returning(['created_at'])) as Array<{ created_at: Date }>;
    return { id: hook.id, url: hook.url, secret: hook.secret, createdAt: new Date(row!.created_at).toISOString() };
  }

  async list(owner: Recipient): Promise<Webhook[]> {
    const rows = (await this.db.knex('monitoring_webhooks').where({ owner }).whereNull('deleted_at').orderBy('created_at')) as Array<{ id: string; url: string; created_at: Date }>;
    return rows.map((r) => ({ id: r.id, url: r.url, createdAt: new Date(r.created_at).toISOString() }));
  }

  async remove(owner: Recipient, id: string): Promise<void> {
    const n = await this.db.knex('monitoring_webhooks').where({ owner, id }).whereNull('deleted_at').update({ deleted_at: this.db.knex.fn.now() });
    if (!n) throw new NotFoundError(`no webhook ${JSON.stringify(id)} of yours`);
  }

  /** Polls for due deliveries until stop(). */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs a delivery pass now (or right after the current one). */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue().then(() => undefined, () => undefined).finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** One pass over the due deliveries; returns how many succeeded. */
  async deliverDue(): Promise<number> {
    const due = (await this.db.knex('monitoring_deliveries as d')
      .join('monitoring_webhooks as w', 'w.id', 'd.webhook_id')
      .join('monitoring_alerts as a', 'a.seq', 'd.alert_seq')
      .whereNull('d.delivered_at').whereNull('w.deleted_at')
      .andWhere('d.next_attempt_at', '<=', new Date())
      .andWhere('d.attempts', '<', this.options.maxAttempts)
      .orderBy('d.alert_seq').limit(200)
      .select('d.webhook_id', 'd.attempts', 'w.url', 'w.secret', 'w.secret_sealed', 'a.*')) as DueDelivery[];
    const results = await Promise.all(due.map((d) => this.attempt(d)));
    return results.filter(Boolean).length;
  }

  private async attempt(d: DueDelivery): Promise<boolean> {
    const { recipients: _r, ...alert } = fromAlertRow(d, [], this.sealer);
    const secret = d.secret_sealed ? this.sealer.openSecret(d.webhook_id, d.secret_sealed) : (d.secret as string);
    const body = JSON.stringify(alert);
    const attempt = d.attempts + 1;
    const refused = await refusedTarget(new URL(d.url), this.options.allowHosts);
    const error = refused ? `refused: ${refused}` : await this.post(d.url, { 'x-hgd-event-id': alert.id, 'x-hgd-delivery-attempt': String(attempt), 'x-hgd-signature': signPayload(secret, Math.floor(Date.now() / 1000), body) }, body);
    const where = { webhook_id: d.webhook_id, alert_seq: d.seq };
    if (error === null) {
      await this.db.knex('monitoring_deliveries').where(where).update({ attempts: attempt, delivered_at: new Date(), last_error: null });
      return true;
    }
    const backoff = Math.min(this.options.maxBackoffMs, this.options.retryBaseMs * 2 ** (attempt - 1));
    await this.db.knex('monitoring_deliveries').where(where).update({ attempts: attempt, next_attempt_at: new Date(Date.now() + backoff), last_error: error });
    return false;
  }

  /** One POST; null on a 2xx, else what went wrong. Redirects are not followed (a 3xx is a failure). */
  private async post(url: string, headers: Record<string, string>, body: string): Promise<string | null> {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error).message.slice(0, 200);
    }
  }
}
