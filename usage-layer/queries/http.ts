/** HTTP routes for research queries and the patient's access log. */
import { Router } from 'express';
import { allow, identityOf } from '../../storage-layer/http-identity';
import type { CareReadLogEntry } from '../care/care-service';
import type { QueryService } from './query-service';

/** `careReads`: the care reads of a patient's records (usage-layer/care), listed beside the research queries. */
export function queryRouter(queries: QueryService, careReads?: (patient: string) => Promise<CareReadLogEntry[]>): Router {
  const router = Router();

  router.post('/queries', allow('researcher'), async (req, res) => {
    // A refused query (BudgetExhaustedError) answers 409 with its id and status 'refused'.
    const queued = await queries.submit(identityOf(res), req.body);
    res.status(202).location(`/queries/${queued.id}`).json(queued);
  });

  router.get('/queries', allow('researcher'), async (req, res) => {
    const study = typeof req.query.study === 'string' && req.query.study !== '' ? req.query.study : undefined;
    res.json({ queries: await queries.listOwn(identityOf(res), study) });
  });

  router.get('/queries/:id', allow('researcher', 'admin'), async (req, res) => {
    res.json(await queries.get(identityOf(res), String(req.params.id)));
  });

  router.get('/patients/me/access-log', allow('patient'), async (_req, res) => {
    const patient = identityOf(res).sub;
    const entries = await queries.accessLog(patient);
    // `entries` are research queries; `careReads` are providers' reads, break-the-glass flagged.
    res.json({ count: entries.length, entries, careReads: careReads ? await careReads(patient) : [], privacy: await queries.patientSpend(patient) });
  });

  return router;
}
