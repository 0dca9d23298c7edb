/**
 * The provider's page: upload FHIR JSON, NDJSON or CSV files with a progress bar (POST /ingest), the
 * ingest report of each, and the quarantine (GET /quarantine) with each batch downloadable in the
 * format it was sent in (GET /quarantine/:batchId?format=…).
 */
import { useState } from 'preact/hooks';
import { download, messageOf, request, uploadWithProgress } from '../api';
import { ErrorNote, Field, Section, TableRegion } from '../components';
import { useLoad } from '../hooks';
import { formatDateTime } from '../words';
import type { Claims } from '../session';
import { IngestReport, type IngestSummary } from './ingest-report';

/** The content type POST /ingest expects for a file, by its name. */
export function uploadContentType(name: string): string {
  if (/\.csv$/i.test(name)) return 'text/csv';
  if (/\.(ndjson|jsonl)$/i.test(name)) return 'application/fhir+ndjson';
  return 'application/fhir+json';
}

/** The quarantine download format that matches the upload format. */
function downloadFormatOf(format: string): 'csv' | 'ndjson' | 'json' {
  if (format === 'csv') return 'csv';
  return format === 'ndjson' ? 'ndjson' : 'json';
}

interface Upload { name: string; progress: number; report?: IngestSummary; error?: string }

function Uploads({ onDone }: { onDone: () => void }) {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const update = (i: number, change: Partial<Upload>) => setUploads((all) => all.map((u, j) => (j === i ? { ...u, ...change } : u)));
  const submit = async (e: Event) => {
    e.preventDefault();
    const files = (new FormData(e.currentTarget as HTMLFormElement).getAll('files') as File[]).filter((f) => f.size > 0);
    setUploads(files.map((f) => ({ name: f.name, progress: 0 })));
    for (const [i, f] of files.entries()) {
      try {
        const report = await uploadWithProgress<IngestSummary>('/ingest', f, uploadContentType(f.name), (p) => update(i, { progress: p }));
        update(i, { report });
      } catch (err) {
        update(i, { error: messageOf(err) });
      }
    }
    onDone();
  };
  return (
    <Section title="Upload files">
      <form onSubmit={submit}>
        <Field label="Files" hint="FHIR R4 JSON (a resource or a Bundle), NDJSON, or CSV (GET /catalogue lists the columns).">
          {(id, hint) => <input id={id} name="files" type="file" multiple accept=".json,.ndjson,.jsonl,.csv" aria-describedby={hint} />}
        </Field>
        <button type="submit">Upload</button>
      </form>
      {uploads.map((u) => (
        <article key={u.name} class="upload">
          <h3>{u.name}</h3>
          <progress max={1} value={u.progress} aria-label={`Upload of ${u.name}`}>{Math.round(u.progress * 100)} %</progress>
          <ErrorNote message={u.error ?? null} />
          {u.report ? <IngestReport report={u.report} /> : null}
        </article>
      ))}
    </Section>
  );
}

interface QuarantineEntry { batchId: string; position: number; ref: string; line?: number | null; pointer?: string | null; reason: string; receivedAt: string; sent?: string | null }

async function saveBatch(batchId: string): Promise<void> {
  const batch = await request<{ format: string }>(`/quarantine/${batchId}`);
  const format = downloadFormatOf(batch.format);
  const blob = await download(`/quarantine/${batchId}?format=${format}`);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `quarantine-${batchId}.${format}`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function Quarantine({ version }: { version: number }) {
  const { data, error } = useLoad(() => request<{ entries: QuarantineEntry[] }>('/quarantine'), [version]);
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const batches = new Map<string, QuarantineEntry[]>();
  for (const e of data?.entries ?? []) batches.set(e.batchId, [...(batches.get(e.batchId) ?? []), e]);
  return (
    <Section title="Quarantine">
      <p>Entries that were rejected at ingest, with their reasons. Fix them and upload them again.</p>
      <ErrorNote message={error ?? downloadError} />
      {data && batches.size === 0 ? <p>The quarantine is empty.</p> : null}
      {[...batches].map(([batchId, entries]) => (
        <article key={batchId} class="batch">
          <h3>Batch {batchId.slice(0, 8)} <small>received {formatDateTime(entries[0]!.receivedAt)}</small></h3>
          <button type="button" class="secondary" onClick={() => saveBatch(batchId).then(() => setDownloadError(null), (e) => setDownloadError(messageOf(e)))}>Download batch {batchId.slice(0, 8)} as sent</button>
          <TableRegion label={`Quarantined entries of batch ${batchId.slice(0, 8)}`}>
            <table>
              <thead><tr><th scope="col">Entry</th><th scope="col">Reason</th><th scope="col">As sent</th></tr></thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.position}><td>{e.ref}{e.line ? ` (line ${e.line})` : ''}</td><td>{e.reason}{e.pointer ? <> at <code>{e.pointer}</code></> : null}</td><td><code class="sent">{e.sent ?? ''}</code></td></tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </article>
      ))}
    </Section>
  );
}

export function ProviderPage(_props: { claims: Claims }) {
  const [version, setVersion] = useState(0);
  return (
    <>
      <Uploads onDone={() => setVersion((v) => v + 1)} />
      <Quarantine version={version} />
    </>
  );
}
