/** Uploading readings from a device file: FHIR JSON or NDJSON, or Open mHealth JSON (POST /patients/me/readings). */
import { useState } from 'preact/hooks';
import { messageOf, uploadWithProgress } from '../api';
import { ErrorNote, Field, Section } from '../components';
import { IngestReport, type IngestSummary } from './ingest-report';

/** The content type the gateway expects for a device file, by its name. */
export function readingsContentType(name: string): string {
  return /\.(ndjson|jsonl)$/i.test(name) ? 'application/fhir+ndjson' : 'application/json';
}

export function PatientReadings({ onUploaded }: { onUploaded: () => void }) {
  const [progress, setProgress] = useState<number | null>(null);
  const [report, setReport] = useState<IngestSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const file = (new FormData(e.currentTarget as HTMLFormElement).get('file') as File | null);
    if (!file || file.size === 0) return setError('Choose a file with readings first.');
    setError(null);
    setReport(null);
    try {
      setReport(await uploadWithProgress<IngestSummary>('/patients/me/readings', file, readingsContentType(file.name), setProgress));
      onUploaded();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <Section title="Upload readings from a device" id="upload">
      <form onSubmit={submit}>
        <Field label="Device file" hint="An export from your device or app: Open mHealth JSON, or FHIR JSON / NDJSON.">
          {(id, hint) => <input id={id} name="file" type="file" accept=".json,.ndjson,.jsonl,application/json" aria-describedby={hint} />}
        </Field>
        <button type="submit">Upload</button>
      </form>
      {progress !== null ? <progress max={1} value={progress} aria-label="Upload progress">{Math.round(progress * 100)} %</progress> : null}
      <ErrorNote message={error} />
      {report ? <IngestReport report={report} /> : null}
    </Section>
  );
}
