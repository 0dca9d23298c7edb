/**
 * Remote-monitoring routes (the engine is management-layer/monitoring):
 *   POST|GET /patients/me/alert-rules, PATCH|DELETE /patients/me/alert-rules/:id   the patient's rules
 *   GET /patients/me/alert-rules/:id/history                                      every version of one of them
 *   POST /care/alert-rules, PATCH|DELETE /care/alert-rules/:id                    a provider's rules (TREAT grant on the indicator)
 *   GET /patients/me/alerts                                                  every alert about the patient
 *   GET /alerts/stream                                                       Server-Sent Events, Last-Event-ID resume
 *   POST|GET /webhooks, DELETE /webhooks/:id                                 the caller's webhooks
 */
import { Router, type Request, type Response } from 'express';
import { alertsAbout, alertsFor, type Alert, type MonitoringServices, type Recipient, type RuleChange } from '../../management-layer/monitoring';
import { ValidationError } from '../../storage-layer/errors';
import { allow, identityOf, type Identity } from '../../storage-layer/http-identity';
import { checkBody } from '../body-schema';
import { parseIdentifier, type CareService } from './care-service';

const KEEPALIVE_MS = 15_000;

/** Who an identity is as an alert recipient. */
export function recipientOf(id: Identity): Recipient {
  if (id.role === 'patient') return `patient:${id.sub}`;
  if (!id.org) throw new ValidationError('the provider token names no organisation', 'org');
  return `org:${id.org}`;
}

function alertView(a: Alert) {
  const { recipients: _recipients, ...view } = a;
  return view;
}

function ruleView<T extends { patient: string }>(r: T) {
  const { patient: _patient, ...view } = r;
  return view;
}

/** Replays what the subscriber missed (after Last-Event-ID), then streams live alerts; no alert twice. */
async function stream(m: MonitoringServices, req: Request, res: Response): Promise<void> {
  const recipient = recipientOf(identityOf(res));
  const raw = req.header('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : '0');
  if (!/^\d{1,18}$/.test(raw)) throw new ValidationError('"Last-Event-ID" must be the id of an event', 'Last-Event-ID');
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 2000\n\n');
  let sent = Number(raw);
  let replaying = true;
  const buffered: Alert[] = [];
  const send = (a: Alert) => {
    if (a.seq <= sent) return;
    sent = a.seq;
    res.write(`id: ${a.seq}\nevent: alert\ndata: ${JSON.stringify(alertView(a))}\n\n`);
  };
  const unsubscribe = m.hub.subscribe(recipient, (a) => (replaying ? buffered.push(a) : send(a)));
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  req.on('close', () => {
    unsubscribe();
    clearInterval(keepalive);
  });
  const page = () => alertsFor(m.db.knex, m.sealer, recipient, sent);
  for (let alerts = await page(); alerts.length; alerts = await page()) alerts.forEach(send);
  replaying = false;
  buffered.sort((a, b) => a.seq - b.seq).forEach(send);
}

export function monitoringRouter(m: MonitoringServices, care: CareService): Router {
  const router = Router();

  router.post('/patients/me/alert-rules', allow('patient'), async (req, res) => {
    const b = checkBody<{ indicator: string; condition: string; notify?: string[] }>('alert-rule', req.body);
    const patient = identityOf(res).sub;
    const rule = await m.rules.create(patient, { indicator: b.indicator, condition: b.condition, notify: b.notify ?? ['patient'] }, `patient:${patient}`);
    res.status(201).location(`/patients/me/alert-rules/${rule.id}`).json(ruleView(rule));
  });

  router.get('/patients/me/alert-rules', allow('patient'), async (_req, res) => {
    res.json({ rules: (await m.rules.list(identityOf(res).sub)).map(ruleView) });
  });

  router.patch('/patients/me/alert-rules/:id', allow('patient'), async (req, res) => {
    const change = checkBody<RuleChange>('alert-rule-change', req.body);
    const patient = identityOf(res).sub;
    res.json(ruleView(await m.rules.update(patient, String(req.params.id), change, `patient:${patient}`)));
  });

  router.get('/patients/me/alert-rules/:id/history', allow('patient'), async (req, res) => {
    res.json({ versions: await m.rules.history(identityOf(res).sub, String(req.params.id)) });
  });

  router.delete('/patients/me/alert-rules/:id', allow('patient'), async (req, res) => {
    const patient = identityOf(res).sub;
    res.json(ruleView(await m.rules.delete(patient, String(req.params.id), `patient:${patient}`)));
  });

  router.post('/care/alert-rules', allow('provider'), async (req, res) => {
    const b = checkBody<{ patient: string; indicator: string; condition: string; notify?: string[] }>('care-alert-rule', req.body);
    const id = identityOf(res);
    const org = recipientOf(id);
    const notify = b.notify ?? [org];
    if (notify.some((n) => n !== 'patient' && n !== org)) throw new ValidationError(`"notify" may name "patient" and your own "${org}" only`, 'notify');
    const patient = care.pseudonymOf(parseIdentifier(b.patient, 'patient'));
    await care.authorise(patient, id.org as string, [b.indicator]);
    const rule = await m.rules.create(patient, { indicator: b.indicator, condition: b.condition, notify }, `provider:${id.org}`);
    res.status(201).location(`/care/alert-rules/${rule.id}`).json(rule);
  });

  // The provider's own rule, while its TREAT grant still covers the indicator (the same 403 as a read otherwise).
  router.patch('/care/alert-rules/:id', allow('provider'), async (req, res) => {
    const change = checkBody<RuleChange>('alert-rule-change', req.body);
    const id = identityOf(res);
    const org = recipientOf(id);
    if (change.notify?.some((n) => n !== 'patient' && n !== org)) throw new ValidationError(`"notify" may name "patient" and your own "${org}" only`, 'notify');
    const actor = `provider:${id.org}`;
    const rule = await m.rules.get(String(req.params.id));
    const mine = (r: { createdBy: string }) => r.createdBy === actor;
    if (rule && mine(rule)) await care.authorise(rule.patient, id.org as string, [rule.indicator]);
    res.json(await m.rules.update(rule?.patient ?? '', String(req.params.id), change, actor, mine));
  });

  router.delete('/care/alert-rules/:id', allow('provider'), async (req, res) => {
    const id = identityOf(res);
    const actor = `provider:${recipientOf(id).slice(4)}`;
    const rule = await m.rules.get(String(req.params.id));
    res.json(await m.rules.delete(rule?.patient ?? '', String(req.params.id), actor, (r) => r.createdBy === actor));
  });

  router.get('/patients/me/alerts', allow('patient'), async (_req, res) => {
    const alerts = await alertsAbout(m.db.knex, m.sealer, identityOf(res).sub);
    res.json({ count: alerts.length, alerts: alerts.map(alertView) });
  });

  router.get('/alerts/stream', allow('patient', 'provider'), (req, res) => stream(m, req, res));

  router.post('/webhooks', allow('patient', 'provider'), async (req, res) => {
    const b = checkBody<{ url: string }>('webhook', req.body);
    const hook = await m.webhooks.register(recipientOf(identityOf(res)), b.url);
    res.status(201).location(`/webhooks/${hook.id}`).json(hook);
  });

  router.get('/webhooks', allow('patient', 'provider'), async (_req, res) => {
    res.json({ webhooks: await m.webhooks.list(recipientOf(identityOf(res))) });
  });

  router.delete('/webhooks/:id', allow('patient', 'provider'), async (req, res) => {
    await m.webhooks.remove(recipientOf(identityOf(res)), String(req.params.id));
    res.status(204).end();
  });

  return router;
}
