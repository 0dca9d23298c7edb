/** An ingest summary (POST /ingest, POST /patients/me/readings) in words, with every rejected entry and its reason. */
import { TableRegion } from '../components';

export interface IngestSummary {
  batchId: string;
  status: string;
  format: string;
  accepted: number;
  duplicate: number;
  rejected: number;
  notes?: string[];
  errors: Array<{ ref: string; pointer?: string; reason: string; line?: number }>;
  quarantine: string | null;
}

export function IngestReport({ report }: { report: IngestSummary }) {
  const stored = report.status === 'stored';
  return (
    <div class="report" aria-label="Ingest report" role="group">
      <p role="status">
        {stored ? 'Stored' : 'Not stored (the transaction was rejected as a whole)'}: {report.accepted} accepted, {report.duplicate} already known, {report.rejected} rejected.
        {report.quarantine ? ' Rejected entries are kept in quarantine.' : ''}
      </p>
      {(report.notes ?? []).map((n) => <p key={n}>{n}</p>)}
      {report.errors.length > 0 ? (
        <TableRegion label="Rejected entries">
          <table>
            <thead><tr><th scope="col">Entry</th><th scope="col">Where</th><th scope="col">Reason</th></tr></thead>
            <tbody>
              {report.errors.map((e, i) => (
                <tr key={i}><td>{e.ref}{e.line ? ` (line ${e.line})` : ''}</td><td><code>{e.pointer ?? ''}</code></td><td>{e.reason}</td></tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      ) : null}
    </div>
  );
}
