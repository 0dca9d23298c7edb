/**
 * A patient may open the ledger entries that their own views point to: the `query` entry of each
 * access-log line (a query that used their data) and the entries of their own grants (created,
 * revoked). `GET /ledger/entries/:seq` then answers as it does for auditors, with the inclusion
 * proof, so the patient can check the entry against a signed checkpoint. Any other entry is 403;
 * every other role is left to the ledger's own route and its rule (auditors and admins).
 */
import type { RequestHandler } from 'express';
import type { Ledger } from '../storage-layer/ledger';
import { ForbiddenError, type Identity } from '../storage-layer/http-identity';
import { parseIntParam } from '../storage-layer/http-params';
import type { UsageServices } from '../usage-layer';

/** Whether entry `seq` is one the patient's access log or grants point to. */
async function pointsTo(usage: UsageServices, patient: string, seq: number): Promise<boolean> {
  if ((await usage.queries.accessLog(patient)).some((e) => e.ledgerSeq === seq)) return true;
  return (await usage.consents.list(patient)).some((g) => g.ledger.grant === seq || g.ledger.revoke === seq);
}

/** Mount before the ledger's router, on GET /ledger/entries/:seq. */
export function patientLedgerEntry(ledger: Ledger, usage: UsageServices): RequestHandler {
  return async (req, res, next) => {
    const identity = res.locals.identity as Identity | undefined;
    if (identity?.role !== 'patient') return next();
    const seq = parseIntParam(req.params.seq, 'seq')!;
    if (!(await pointsTo(usage, identity.sub, seq))) {
      throw new ForbiddenError(`a patient may open only the ledger entries their access log and grants point to; entry ${seq} is not one of them`);
    }
    res.json(await ledger.entryWithProof(seq));
  };
}
