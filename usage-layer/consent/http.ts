/** HTTP routes for reading studies, patients' grants and their FHIR Consent form. */
import { Router } from 'express';
import { NotFoundError, ValidationError } from '../../storage-layer/errors';
import { allow, identityOf } from '../../storage-layer/http-identity';
import { consentToGrantInput, grantToConsent, treatmentGrantToConsent } from './fhir-consent';
import { parseGrantInput, type ConsentService, type Grant } from './grants';
import type { Study, StudyService } from './studies';

/** A grant as its patient sees it (the pseudonym is the caller's own and is left out). */
function grantView(g: Grant) {
  const { patient: _patient, ...view } = g;
  return view;
}

function publicStudy(s: Study) {
  return { id: s.id, title: s.title, purpose: s.purpose, minCohort: s.minCohort };
}

export function consentRouter(studies: StudyService, consents: ConsentService): Router {
  const router = Router();

  // ---- studies (registering them and their members: app/admin-routes.ts) ------------------------
  /** Every study's public description (patients choose whom to grant to). */
  router.get('/studies', allow('admin', 'patient', 'researcher'), async (_req, res) => {
    res.json({ studies: (await studies.list()).map(publicStudy) });
  });

  /** A study with its privacy budget: for admins and the study's own researchers. */
  router.get('/studies/:id', allow('admin', 'researcher'), async (req, res) => {
    const id = identityOf(res);
    const studyId = String(req.params.id);
    if (id.role === 'researcher') {
      res.json(await studies.requireMember(id, studyId));
      return;
    }
    const study = await studies.get(studyId);
    if (!study) throw new NotFoundError(`no study "${studyId}"`);
    res.json({ ...study, researchers: await studies.researchers(studyId) });
  });

  // ---- a patient's grants --------------------------------------------------------------------------
  router.post('/patients/me/grants', allow('patient'), async (req, res) => {
    const grant = await consents.create(identityOf(res).sub, parseGrantInput(req.body));
    res.status(201).location(`/patients/me/grants/${grant.id}`).json(grantView(grant));
  });

  router.get('/patients/me/grants', allow('patient'), async (_req, res) => {
    res.json({ grants: (await consents.list(identityOf(res).sub)).map(grantView) });
  });

  router.get('/patients/me/grants/:id', allow('patient'), async (req, res) => {
    res.json(grantView(await consents.get(identityOf(res).sub, String(req.params.id))));
  });

  router.delete('/patients/me/grants/:id', allow('patient'), async (req, res) => {
    res.json(grantView(await consents.revoke(identityOf(res).sub, String(req.params.id))));
  });

  router.get('/patients/me/grants/:id/consent', allow('patient'), async (req, res) => {
    const grant = await consents.get(identityOf(res).sub, String(req.params.id));
    if (grant.study === null) {
      res.type('application/fhir+json').send(JSON.stringify(treatmentGrantToConsent(grant)));
      return;
    }
    const study = await studies.get(grant.study);
    res.type('application/fhir+json').send(JSON.stringify(grantToConsent(grant, { id: grant.study, title: study?.title ?? grant.study })));
  });

  /** Imports a FHIR R4 Consent (application/fhir+json or application/json) as a new grant. */
  router.post('/patients/me/consents', allow('patient'), async (req, res) => {
    const patient = identityOf(res).sub;
    const { input, pointers } = consentToGrantInput(req.body, patient);
    let grant: Grant;
    try {
      grant = await consents.create(patient, input, 'fhir-consent');
    } catch (err) {
      // Name the field of the Consent, not of the JSON grant API.
      if (err instanceof ValidationError && (err.field === 'study' || err.field === 'purpose')) {
        throw new ValidationError(err.message, pointers[err.field]);
      }
      throw err;
    }
    res.status(201).location(`/patients/me/grants/${grant.id}`).json(grantView(grant));
  });

  return router;
}
