/** The patient's page: records as charts, grants, the access log, live alerts and alert rules, and uploading readings. */
import type { Claims } from '../session';
import { useCatalogue } from '../hooks';
import { PatientRecords } from './patient-records';
import { PatientGrants } from './patient-grants';
import { AccessLog } from './patient-log';
import { AlertRules, Alerts } from './patient-alerts';
import { PatientReadings } from './patient-readings';
import { useState } from 'preact/hooks';

export function PatientPage(_props: { claims: Claims }) {
  const catalogue = useCatalogue();
  // Uploading readings or changing a grant refreshes what depends on it.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  return (
    <>
      <nav aria-label="Sections" class="sections">
        <a href="#records">Records</a> <a href="#grants">Sharing</a> <a href="#access">Who used your data</a> <a href="#alerts">Alerts</a> <a href="#rules">Alert rules</a> <a href="#upload">Upload readings</a>
      </nav>
      <PatientRecords catalogue={catalogue} version={version} />
      <PatientGrants catalogue={catalogue} onChange={changed} />
      <AccessLog catalogue={catalogue} version={version} />
      <Alerts catalogue={catalogue} version={version} />
      <AlertRules catalogue={catalogue} />
      <PatientReadings onUploaded={changed} />
    </>
  );
}
