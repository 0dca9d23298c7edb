/**
 * Care routes: a provider's FHIR read of a patient's Observations across sources.
 *
 *   GET /care/Observation?patient.identifier=system|value[&indicator=a,b][&_count=50][&_offset=0]
 *     → application/fhir+json searchset Bundle; header X-Break-Glass-Reason for an emergency read.
 */
import { Router, type Request } from 'express';
import { ValidationError } from '../../storage-layer/errors';
import { allow, identityOf } from '../../storage-layer/http-identity';
import { parseIdentifier, type CareService } from './care-service';
import { searchsetBundle } from './fhir-bundle';

export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 50;

function intParam(raw: unknown, field: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = typeof raw === 'string' && /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ValidationError(`"${field}" must be an integer from ${min} to ${max}`, field);
  return n;
}

function listParam(raw: unknown): string[] {
  if (raw === undefined || raw === '') return [];
  const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
  return [...new Set(parts)].sort();
}

/** The request's path and query without paging parameters, for the Bundle's links. */
function baseUrl(req: Request): string {
  const url = new URL(req.originalUrl, 'http://gateway.invalid');
  url.searchParams.delete('_count');
  url.searchParams.delete('_offset');
  return url.pathname + url.search;
}

export function careRouter(care: CareService): Router {
  const router = Router();

  router.get('/care/Observation', allow('provider'), async (req, res) => {
    const identifier = parseIdentifier(req.query['patient.identifier'], 'patient.identifier');
    const count = intParam(req.query._count, '_count', DEFAULT_PAGE, 1, MAX_PAGE);
    const offset = intParam(req.query._offset, '_offset', 0, 0, 1e9);
    const reason = req.header('x-break-glass-reason');
    const read = await care.read(identityOf(res), { identifier, indicators: listParam(req.query.indicator), count, offset, ...(reason !== undefined ? { breakGlassReason: reason } : {}) });
    const bundle = searchsetBundle(read.records, identifier, { total: read.total, offset, count, baseUrl: baseUrl(req) });
    res.type('application/fhir+json').set('X-HGD-Read-Id', read.readId).send(JSON.stringify(bundle));
  });

  return router;
}
