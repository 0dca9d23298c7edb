/**
 * Grants as FHIR R4 Consent resources, both ways.
 *
 * Export: scope research, category research (consentcategorycodes) + LOINC 59284-0, the patient by
 * pseudonym identifier, policyRule OPTIN, and one permit provision with the grant's period, the study
 * as actor (role v3-ParticipationType#IRCP, information recipient: a Group reference by the study's
 * identifier, since R4 does not allow ResearchStudy there) and as the consent-ResearchStudyContext
 * extension, the purpose coding and the indicators' LOINC codes (a demographic, which has none, by its
 * name in urn:hgd:indicator). status: active while the grant can
 * still apply (active or not yet started), inactive once revoked or expired.
 *
 * Import: the resource is checked against schema/fhir-consent-subset.schema.json (ajv), then mapped
 * back; every problem names the JSON pointer of the field.
 */
import type { Consent } from '@medplum/fhirtypes';
import { getIndicator, indicatorByCode, indicatorCoding, INDICATOR_SYSTEM, LOINC_SYSTEM, type Indicator } from '../../management-layer/catalogue';
import { describeAjvErrors, validatorFor } from '../../management-layer/schemas';
import { ValidationError } from '../../storage-layer/errors';
import { ForbiddenError } from '../../storage-layer/http-identity';
import { parseInstant } from '../sql';
import type { Grant, GrantInput } from './grants';
import { isAllowedPurpose, PURPOSES, PURPOSE_SYSTEM } from './purpose';

const PSEUDONYM_SYSTEM = 'urn:hgd:patient-pseudonym';
const STUDY_SYSTEM = 'urn:hgd:study';
const SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentcategorycodes';
const PARTICIPATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const RESEARCH_STUDY_CONTEXT = 'http://hl7.org/fhir/StructureDefinition/consent-ResearchStudyContext';
const CONSENT_SCHEMA = 'fhir-consent-subset.schema.json';
/** The indicator of an imported coding (LOINC, or an HGD name), or undefined. */
function codedIndicator(cd: Coding): Indicator | undefined {
  return cd.system === INDICATOR_SYSTEM ? getIndicator(cd.code ?? '') : indicatorByCode(cd.system, cd.code);
}

export function grantToConsent(grant: Grant, study: { id: string; title: string }): Consent {
  const studyIdentifier = { system: STUDY_SYSTEM, value: study.id };
  return {
    resourceType: 'Consent',
    id: grant.id,
    status: grant.status === 'active' || grant.status === 'pending' ? 'active' : 'inactive',
    scope: { coding: [{ system: SCOPE_SYSTEM, code: 'research', display: 'Research' }] },
    category: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'research', display: 'Research Information Access' }, { system: LOINC_SYSTEM, code: '59284-0' }] }],
    patient: { identifier: { system: PSEUDONYM_SYSTEM, value: grant.patient } },
    dateTime: grant.createdAt,
    policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: 'OPTIN' }] },
    provision: {
      extension: [{ url: RESEARCH_STUDY_CONTEXT, valueReference: { type: 'ResearchStudy', identifier: studyIdentifier, display: study.title } }],
      type: 'permit',
      period: { start: grant.period.start, ...(grant.period.end ? { end: grant.period.end } : {}) },
      actor: [{
        role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'IRCP', display: 'information recipient' }] },
        reference: { type: 'Group', identifier: studyIdentifier, display: `researchers of study "${study.title}"` },
      }],
      purpose: [{ system: PURPOSE_SYSTEM, code: grant.purpose.code, display: grant.purpose.display }],
      code: grant.indicators.map((name) => ({ coding: [indicatorCoding(name)], text: name })),
    },
  };
}

const ORGANIZATION_SYSTEM = 'urn:hgd:org';

/**
 * A treatment grant as a Consent: scope patient-privacy, category INFA (information access), the
 * organisation as IRCP actor (an Organization reference by identifier), purpose TREAT. Export only:
 * HGD imports research consents.
 */
export function treatmentGrantToConsent(grant: Grant): Consent {
  const research = grantToConsent(grant, { id: '', title: '' });
  const { extension: _extension, ...provision } = research.provision!;
  return {
    ...research,
    scope: { coding: [{ system: SCOPE_SYSTEM, code: 'patient-privacy', display: 'Privacy Consent' }] },
    category: [{ coding: [{ system: ACT_CODE_SYSTEM, code: 'INFA', display: 'information access' }] }],
    provision: {
      ...provision,
      actor: [{
        role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'IRCP', display: 'information recipient' }] },
        reference: { type: 'Organization', identifier: { system: ORGANIZATION_SYSTEM, value: grant.grantee ?? '' } },
      }],
    },
  };
}

/** Where each part of the grant came from in the imported resource (to name the field in later errors). */
export interface ConsentPointers {
  study: string;
  purpose: string;
}

interface Coding {
  system?: string;
  code?: string;
}
interface Reference {
  identifier?: { system: string; value: string };
}

function hasCoding(concept: { coding?: Coding[] } | undefined, system: string, code: string): boolean {
  return (concept?.coding ?? []).some((c) => c.system === system && c.code === code);
}

/** Validates a FHIR R4 Consent and maps it to a grant for `patient` (who must be the Consent's patient). */
export function consentToGrantInput(resource: unknown, patient: string, now = new Date()): { input: GrantInput; pointers: ConsentPointers } {
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  if (type !== 'Consent') throw new ValidationError(`expected a FHIR R4 Consent resource, got resourceType ${JSON.stringify(type ?? null)}`, '/resourceType');
  const validate = validatorFor(CONSENT_SCHEMA);
  if (!validate(resource)) {
    const issues = describeAjvErrors(validate.errors);
    const first = issues[0] ?? { pointer: '', reason: 'is not a valid Consent' };
    throw new ValidationError(`the Consent is invalid: ${issues.slice(0, 5).map((i) => `${i.pointer || '/'} ${i.reason}`).join('; ')}`, first.pointer || '/');
  }
  const c = resource as Consent;
  if (c.status !== 'active') throw new ValidationError(`only an active Consent becomes a grant; status is "${c.status}"`, '/status');
  if (!hasCoding(c.scope, SCOPE_SYSTEM, 'research')) throw new ValidationError(`scope must be ${SCOPE_SYSTEM}#research: HGD imports research consents only`, '/scope');
  const pid = (c.patient as Reference).identifier;
  if (pid?.system === PSEUDONYM_SYSTEM && pid.value !== patient) throw new ForbiddenError('this Consent is for another patient (/patient/identifier)');
  const provision = c.provision!;
  if (provision.type !== 'permit') throw new ValidationError('provision.type must be "permit": a grant permits; to withdraw one, revoke it', '/provision/type');

  // Purpose: exactly one allowed PurposeOfUse code.
  const purposes = (provision.purpose ?? []).map((p, k) => ({ p, k })).filter(({ p }) => isAllowedPurpose(p.system, p.code));
  const distinct = [...new Set(purposes.map(({ p }) => p.code as string))];
  if (distinct.length !== 1) {
    throw new ValidationError(
      distinct.length === 0
        ? `provision.purpose names none of the allowed codes ${Object.keys(PURPOSES).join(', ')} of ${PURPOSE_SYSTEM}`
        : `provision.purpose names several purposes (${distinct.join(', ')}); a grant has exactly one`,
      '/provision/purpose',
    );
  }
  const purpose = distinct[0] as string;

  // Study: the consent-ResearchStudyContext extension and/or an IRCP actor identified in urn:hgd:study.
  const studies: Array<{ id: string; pointer: string }> = [];
  (provision.extension ?? []).forEach((e, k) => {
    const id = (e.valueReference as Reference | undefined)?.identifier;
    if (e.url === RESEARCH_STUDY_CONTEXT && id?.system === STUDY_SYSTEM) studies.push({ id: id.value, pointer: `/provision/extension/${k}/valueReference/identifier/value` });
  });
  (provision.actor ?? []).forEach((a, k) => {
    const id = (a.reference as Reference).identifier;
    if (hasCoding(a.role, PARTICIPATION_SYSTEM, 'IRCP') && id?.system === STUDY_SYSTEM) studies.push({ id: id.value, pointer: `/provision/actor/${k}/reference/identifier/value` });
  });
  if (studies.length === 0) {
    throw new ValidationError(`provision.actor must name the study: role ${PARTICIPATION_SYSTEM}#IRCP and a reference with identifier system ${STUDY_SYSTEM}`, '/provision/actor');
  }
  const other = studies.find((s) => s.id !== studies[0]!.id);
  if (other) throw new ValidationError(`the Consent names two studies, "${studies[0]!.id}" and "${other.id}"; a grant is for one`, other.pointer);

  // Codes: every CodeableConcept must carry a LOINC code of an HGD indicator (or an indicator's name in urn:hgd:indicator).
  const indicators: string[] = [];
  (provision.code ?? []).forEach((concept, k) => {
    const codings = concept.coding ?? [];
    const loinc = codings.map((cd, j) => ({ cd, j })).filter(({ cd }) => cd.system === LOINC_SYSTEM || cd.system === INDICATOR_SYSTEM);
    if (loinc.length === 0) throw new ValidationError(`provision.code[${k}] has no LOINC coding (${LOINC_SYSTEM}) nor an HGD indicator name (${INDICATOR_SYSTEM})`, `/provision/code/${k}/coding`);
    for (const { cd, j } of loinc) {
      const ind = codedIndicator(cd);
      if (!ind) throw new ValidationError(`${cd.system === LOINC_SYSTEM ? 'LOINC' : INDICATOR_SYSTEM} ${JSON.stringify(cd.code)} is not an HGD indicator (see schema/ics-catalogue.json)`, `/provision/code/${k}/coding/${j}/code`);
      if (!indicators.includes(ind.name)) indicators.push(ind.name);
    }
  });

  const start = provision.period?.start === undefined ? now.toISOString() : parseInstant(provision.period.start, '/provision/period/start', 'start');
  const end = provision.period?.end === undefined ? null : parseInstant(provision.period.end, '/provision/period/end', 'end');
  if (end !== null && Date.parse(end) <= Date.parse(start)) throw new ValidationError('provision.period.end must be after its start', '/provision/period/end');

  const purposeIndex = purposes.find(({ p }) => p.code === purpose)!.k;
  return {
    input: { study: studies[0]!.id, indicators: indicators.sort(), purpose, period: { start, end } },
    pointers: { study: studies[0]!.pointer, purpose: `/provision/purpose/${purposeIndex}` },
  };
}
