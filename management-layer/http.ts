/** HTTP routes of the management layer: provider ingest and quarantine, a patient's own records. */
import { Router } from 'express';
import { ValidationError, HgdError } from '../storage-layer/errors';
import { allow, identityOf } from '../storage-layer/http-identity';
import { formatForContentType } from './parse';
import { getIndicator } from './catalogue';
import type { IngestService } from './ingest/ingest-service';

class UnsupportedMediaTypeError extends HgdError {
  constructor(contentType: string | undefined) {
    super(`content type ${JSON.stringify(contentType ?? '(none)')} is not supported: send application/fhir+json, application/json, application/fhir+ndjson or text/csv`, 415, 'unsupported_media_type');
  }
}

function isoParam(raw: unknown, field: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || Number.isNaN(Date.parse(raw)) || !/^\d{4}-\d{2}-\d{2}/.test(raw)) {
    throw new ValidationError(`"${field}" must be an ISO 8601 date or date-time`, field);
  }
  const instant = new Date(raw);
  // Year 0000 parses in JavaScript but PostgreSQL has no year 0 in ISO form: refuse it here, not with a 500 there.
  if (instant.getUTCFullYear() < 1) throw new ValidationError(`"${field}" must be in year 1 or later`, field);
  return instant.toISOString();
}

export function managementRouter(ingest: IngestService): Router {
  const router = Router();

  router.post('/ingest', allow('provider'), async (req, res) => {
    const format = formatForContentType(req.headers['content-type']);
    if (!format) throw new UnsupportedMediaTypeError(req.headers['content-type']);
    const empty = req.body === undefined || (typeof req.body === 'string' && req.body.trim() === '') || (typeof req.body === 'object' && req.body !== null && Object.keys(req.body as object).length === 0 && !Array.isArray(req.body));
    if (empty) throw new ValidationError('the request body is empty', 'body');
    const org = identityOf(res).org;
    if (!org) throw new ValidationError('the provider token names no organisation', 'org');
    const summary = await ingest.ingest({ provider: org, format, body: req.body });
    if (summary.status === 'stored') {
      res.json(summary);
    } else {
      res.status(422).json({ error: 'transaction_rejected', message: `the transaction Bundle was not stored: ${summary.rejected} entries were rejected (see errors)`, ...summary });
    }
  });

  router.get('/quarantine', allow('provider'), async (_req, res) => {
    res.json({ entries: await ingest.quarantineFor(identityOf(res).org ?? '') });
  });

  router.get('/quarantine/:batchId', allow('provider'), async (req, res) => {
    const batchId = String(req.params.batchId);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(batchId)) throw new ValidationError('"batchId" must be a batch id (a UUID)', 'batchId');
    const entries = await ingest.quarantineFor(identityOf(res).org ?? '', batchId);
    if (req.query.format === 'ndjson') {
      // The rejected entries themselves, one a line, ready to fix and send again.
      res.type('application/fhir+ndjson').send(entries.filter((e) => e.entry !== null).map((e) => JSON.stringify(e.entry)).join('\n'));
      return;
    }
    res.json({ batchId, entries });
  });

  router.get('/patients/me/observations', allow('patient'), async (req, res) => {
    const indicator = typeof req.query.indicator === 'string' && req.query.indicator !== '' ? req.query.indicator : undefined;
    if (indicator && !getIndicator(indicator)) throw new ValidationError(`unknown indicator "${indicator}"`, 'indicator');
    const from = isoParam(req.query.from, 'from');
    const to = isoParam(req.query.to, 'to');
    const records = await ingest.patientRecords(identityOf(res).sub, { indicator, from, to });
    res.json({ count: records.length, observations: records });
  });

  return router;
}
