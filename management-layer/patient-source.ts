/**
 * Patients as a source: a patient uploads their own device readings, as FHIR Observations (a lone
 * Observation, a Bundle or NDJSON) or Open mHealth data points (parse/open-mhealth.ts), through the
 * same ingest pipeline, validation, units and quarantine as a provider's upload. What differs:
 * - the records belong to the uploader: an Observation without subject is theirs, one naming
 *   another patient is rejected (quarantined) with pointer /subject;
 * - provenance.origin is "patient-reported" and provenance.device the device (Open mHealth
 *   acquisition_provenance.source_name, or Observation.device.display);
 * - the upload's "provider" (records.provider, quarantine owner) is `patient:<pseudonym>`
 *   (PATIENT_SOURCE_PREFIX), which is how research queries tell patient-reported records apart.
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { HgdError, ValidationError } from '../storage-layer/errors';
import { allow, identityOf } from '../storage-layer/http-identity';
import { isSubjectReference, type IcsRecordDraft } from './ics-record';
import type { IngestService, IngestSummary, Reporter } from './ingest/ingest-service';
import { formatForContentType, type UploadFormat } from './parse';
import { isOpenMhealth, openMhealthToFhir } from './parse/open-mhealth';

/** records.provider of a patient's own upload starts with this. */
export const PATIENT_SOURCE_PREFIX = 'patient:';
/** Subject system standing for "the uploading patient" in their own Observations. */
/**
 * An Observation a patient uploads without a subject is theirs: it is given this identifier system with
 * a value fresh for each upload (so no other upload, and no provider, can name it), which the upload's
 * reporter alone recognises. (Systems under urn:hgd: are refused from any upload: they name identities
 * HGD assigns.)
 */
const SELF_SYSTEM = 'https://hgd.example/fhir/patient-upload';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Gives an Observation without subject the uploader as subject, and notes its device. */
function claimObservation(resource: unknown, devices: Map<string, string>, self: string): unknown {
  if (!isObject(resource) || resource.resourceType !== 'Observation') return resource;
  const device = isObject(resource.device) && typeof resource.device.display === 'string' ? resource.device.display.trim() : '';
  if (device && typeof resource.id === 'string' && !devices.has(resource.id)) devices.set(resource.id, device.slice(0, 200));
  return resource.subject === undefined ? { ...resource, subject: { identifier: { system: SELF_SYSTEM, value: self } } } : resource;
}

/** The upload as the pipeline takes it, and the devices by Observation id. */
export function preparePatientUpload(format: UploadFormat, body: unknown): { format: UploadFormat; body: unknown; devices: Map<string, string>; self: string } {
  const self = randomUUID();
  if (format === 'fhir-json' && isOpenMhealth(body)) {
    const { bundle, devices } = openMhealthToFhir(body);
    return { format, body: { ...bundle, entry: bundle.entry.map((e) => ({ resource: claimObservation(e.resource, devices, self) })) }, devices, self };
  }
  const devices = new Map<string, string>();
  if (format === 'fhir-json' && isObject(body) && body.resourceType === 'Bundle' && Array.isArray(body.entry)) {
    return { format, body: { ...body, entry: body.entry.map((e: unknown) => (isObject(e) ? { ...e, resource: claimObservation(e.resource, devices, self) } : e)) }, devices, self };
  }
  if (format === 'fhir-json') return { format, body: claimObservation(body, devices, self), devices, self };
  if (format === 'ndjson' && typeof body === 'string') {
    const lines = body.split('\n').map((line) => {
      try {
        return line.trim() === '' ? line : JSON.stringify(claimObservation(JSON.parse(line), devices, self));
      } catch {
        return line; // the parser reports the bad line
      }
    });
    return { format, body: lines.join('\n'), devices, self };
  }
  throw new ValidationError('a patient uploads FHIR JSON, NDJSON or Open mHealth JSON', 'content-type');
}

/** The Reporter of one patient's upload (see IngestRequest.reporter). */
export function patientReporter(patient: string, devices: Map<string, string>, self: string): Reporter {
  return {
    claim(draft: IcsRecordDraft, pseudonymOf) {
      const own = (!isSubjectReference(draft.subject) && draft.subject.system === SELF_SYSTEM && draft.subject.value === self) || pseudonymOf(draft) === patient;
      if (!own) return { pointer: '/subject', reason: 'the Observation is about another patient: a patient uploads only their own readings' };
      const device = devices.get(draft.provenance.sourceId);
      return { patient, draft: { ...draft, provenance: { ...draft.provenance, origin: 'patient-reported', ...(device ? { device } : {}) } } };
    },
  };
}

class UnsupportedPatientMediaTypeError extends HgdError {
  constructor(contentType: string | undefined) {
    super(`content type ${JSON.stringify(contentType ?? '(none)')} is not supported: send application/json (FHIR or Open mHealth), application/fhir+json or application/fhir+ndjson`, 'unsupported_media_type');
  }
}

export function patientSourceRouter(ingest: IngestService): Router {
  const router = Router();

  router.post('/patients/me/readings', allow('patient'), async (req, res) => {
    const format = formatForContentType(req.headers['content-type']);
    if (!format || format === 'csv') throw new UnsupportedPatientMediaTypeError(req.headers['content-type']);
    if (req.body === undefined || (typeof req.body === 'string' && req.body.trim() === '')) throw new ValidationError('the request body is empty', 'body');
    const patient = identityOf(res).sub;
    const upload = preparePatientUpload(format, req.body);
    const provider = `${PATIENT_SOURCE_PREFIX}${patient}`;
    const summary: IngestSummary = await ingest.ingest({ provider, format: upload.format, body: upload.body, reporter: patientReporter(patient, upload.devices, upload.self), actor: provider });
    const view = { ...summary, quarantine: summary.quarantine === null ? null : `/patients/me/quarantine/${summary.batchId}` };
    if (summary.status === 'stored') res.json(view);
    else res.status(422).json({ error: 'transaction_rejected', message: `the transaction Bundle was not stored: ${summary.rejected} entries were rejected (see errors)`, ...view });
  });

  router.get('/patients/me/quarantine/:batchId', allow('patient'), async (req, res) => {
    const batchId = String(req.params.batchId);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(batchId)) throw new ValidationError('"batchId" must be a batch id (a UUID)', 'batchId');
    res.json({ batchId, entries: await ingest.quarantine.list(`${PATIENT_SOURCE_PREFIX}${identityOf(res).sub}`, batchId) });
  });

  return router;
}
