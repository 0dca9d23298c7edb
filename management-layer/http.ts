/**
 * HTTP routes of the management layer: provider ingest and quarantine, a patient's own records, and the public
 * catalogue of what HGD ingests. POST /ingest reads its body as bytes (ingestBodyParser, mounted before any other
 * body parser) so the parsers see exactly what was sent.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import { ValidationError, HgdError, NotFoundError } from '../storage-layer/errors';
import { allow, identityOf } from '../storage-layer/http-identity';
import { NulBodyError } from './errors';
import { formatForContentType, type SourcePosition } from './parse';
import { getIndicator, publicCatalogue } from './catalogue';
import { CSV_COLUMNS, CSV_OPTIONAL_COLUMNS } from './parse/csv';
import { demographicColumns } from './demographics';
import { DOWNLOAD_FORMATS, downloadOf, type DownloadFormat } from './ingest/quarantine';
import type { IngestService } from './ingest/ingest-service';

class UnsupportedMediaTypeError extends HgdError {
  constructor(message: string) {
    super(message, 'unsupported_media_type');
  }
}

const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UTF8 = new Set(['utf-8', 'utf8', 'us-ascii']);

/** The raw body of POST /ingest, up to the configured limit (413 beyond). */
export function ingestBodyParser(limit: string): RequestHandler {
  return express.raw({ type: () => true, limit });
}

/** A query parameter given at most once; a repeated one is a 400 naming it (never silently ignored). */
function single(raw: unknown, field: string): string | undefined {
  if (Array.isArray(raw)) throw new ValidationError(`"${field}" is given more than once`, field);
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw new ValidationError(`"${field}" must be a single value`, field);
  return raw;
}

function isoParam(raw: unknown, field: string): string | undefined {
  const v = single(raw, field);
  if (v === undefined) return undefined;
  if (Number.isNaN(Date.parse(v)) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw new ValidationError(`"${field}" must be an ISO 8601 date or date-time`, field);
  const instant = new Date(v);
  // Year 0000 parses in JavaScript but PostgreSQL has no year 0 in ISO form: refuse it here, not with a 500 there.
  if (instant.getUTCFullYear() < 1) throw new ValidationError(`"${field}" must be in year 1 or later`, field);
  return instant.toISOString();
}

/** ?indicator=a&indicator=b (or one): every name must be a known indicator. */
function indicatorsParam(raw: unknown): string[] {
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((v) => v !== '');
  for (const name of list) {
    if (typeof name !== 'string') throw new ValidationError('"indicator" must be an indicator name', 'indicator');
    if (!getIndicator(name)) throw new ValidationError(`unknown indicator "${name}" (GET /catalogue lists them)`, 'indicator');
  }
  return [...new Set(list as string[])];
}

/** The upload format of a request, refusing other types and charsets other than UTF-8. */
function uploadFormat(req: Request) {
  const contentType = req.headers['content-type'];
  const format = formatForContentType(contentType);
  if (!format) {
    throw new UnsupportedMediaTypeError(`content type ${JSON.stringify(contentType ?? '(none)')} is not supported: send application/fhir+json, application/json, application/fhir+ndjson or text/csv`);
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && !UTF8.has(charset)) throw new UnsupportedMediaTypeError(`charset "${charset}" is not supported: send UTF-8`);
  return format;
}

/** The body as bytes; empty or NUL-only bodies are refused for what they are. */
function uploadBody(req: Request): Buffer {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  if (body.length > 0 && body.every((b) => b === 0)) throw new NulBodyError(body.length);
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new ValidationError('the request body is empty', 'body');
  return body;
}

/** HGD-First-Line / HGD-First-Row: where a chunk of a larger file starts (sent by hgd ingest). */
function positionOf(req: Request): SourcePosition {
  const header = (name: string): number | undefined => {
    const raw = req.headers[name];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || !/^[1-9][0-9]{0,9}$/.test(raw.trim())) throw new ValidationError(`header ${name} must be a whole number from 1, got ${JSON.stringify(raw)}`, name);
    return Number(raw.trim());
  };
  const firstLine = header('hgd-first-line');
  const firstRow = header('hgd-first-row');
  return { ...(firstLine !== undefined ? { firstLine } : {}), ...(firstRow !== undefined ? { firstRow } : {}) };
}

function downloadFormat(raw: unknown): DownloadFormat | undefined {
  const v = single(raw, 'format');
  if (v === undefined) return undefined;
  if (!(DOWNLOAD_FORMATS as readonly string[]).includes(v)) throw new ValidationError(`"format" must be one of ${DOWNLOAD_FORMATS.join(', ')}`, 'format');
  return v as DownloadFormat;
}

export function managementRouter(ingest: IngestService): Router {
  const router = Router();

  router.get('/catalogue', (_req, res) => {
    const demographics = Object.fromEntries([...demographicColumns()].map(([column, ind]) => [column, ind.name]));
    res.json({ ...publicCatalogue(), csv: { columns: CSV_COLUMNS, optionalColumns: CSV_OPTIONAL_COLUMNS, demographicColumns: demographics, delimiters: [',', ';', 'tab'] } });
  });

  router.post('/ingest', allow('provider'), async (req, res) => {
    const format = uploadFormat(req);
    const body = uploadBody(req);
    const org = identityOf(res).org;
    if (!org) throw new ValidationError('the provider token names no organisation', 'org');
    const report = single(req.query.report, 'report');
    if (report !== undefined && report !== 'entries') throw new ValidationError('"report" must be "entries" (to list every entry with its outcome)', 'report');
    const summary = await ingest.ingest({ provider: org, format, body, position: positionOf(req), listEntries: report === 'entries' });
    if (summary.status === 'stored') {
      res.json(summary);
    } else {
      res.status(422).json({ error: 'transaction_rejected', message: `the transaction Bundle was not stored: ${summary.rejected} entries were rejected (see errors)`, ...summary });
    }
  });

  router.get('/quarantine', allow('provider'), async (_req, res) => {
    res.json({ entries: await ingest.quarantine.list(identityOf(res).org ?? '') });
  });

  router.get('/quarantine/:batchId', allow('provider'), async (req, res) => {
    const batchId = String(req.params.batchId);
    if (!BATCH_ID.test(batchId)) throw new ValidationError('"batchId" must be a batch id (a UUID)', 'batchId');
    const format = downloadFormat(req.query.format);
    const provider = identityOf(res).org ?? '';
    const batch = await ingest.quarantine.batch(provider, batchId);
    if (!batch) throw new NotFoundError(`no batch ${batchId} of this provider`);
    const entries = await ingest.quarantine.list(provider, batchId);
    if (format === undefined) {
      res.json({ batchId, format: batch.format, bundleType: batch.bundleType, entries });
      return;
    }
    const file = downloadOf(batch, entries, format);
    res.type(file.contentType).send(file.body);
  });

  router.get('/patients/me/observations', allow('patient'), async (req, res) => {
    const indicators = indicatorsParam(req.query.indicator);
    const from = isoParam(req.query.from, 'from');
    const to = isoParam(req.query.to, 'to');
    const records = await ingest.patientRecords(identityOf(res).sub, { indicators, from, to });
    res.json({ count: records.length, observations: records });
  });

  return router;
}
