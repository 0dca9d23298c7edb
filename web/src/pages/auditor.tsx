/**
 * The auditor's page: the latest checkpoint with its signature and witness cosignatures, and
 * inclusion and consistency proofs verified in this browser (audit/verify.ts). The proofs are shown
 * as editable text: change a hash and the page reports the proof as bad.
 */
import { useEffect, useState } from 'preact/hooks';
import { messageOf, request } from '../api';
import { ErrorNote, Field, Section } from '../components';
import { useLoad } from '../hooks';
import { formatDateTime } from '../words';
import type { Claims } from '../session';
import { trustFromFile, type Trust } from '../../../storage-layer/verify/trust';
import { verifyCheckpointNote, verifyConsistencyAnswer, verifyInclusionAnswer, type Verdict } from '../audit/verify';
import { lastSeenCheckpoint, pinnedTrust, pinTrust, rememberCheckpoint, reportedTrust, unpinTrust, type ReportedCheckpoint } from '../audit/trust';

export function VerdictNote({ verdict }: { verdict: Verdict | null }) {
  return (
    <p class={`verdict ${verdict ? (verdict.ok ? 'good' : 'bad') : ''}`} role="status" aria-live="polite">
      {verdict ? <><strong>{verdict.ok ? 'Good' : 'Bad'}:</strong> {verdict.words}.</> : ''}
    </p>
  );
}

function TrustPanel({ reported, pinned, onChange }: { reported: ReportedCheckpoint; pinned: boolean; onChange: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const pin = (text: string) => {
    try {
      pinTrust(JSON.parse(text));
      setError(null);
      onChange();
    } catch (err) {
      setError(`This trust file cannot be used: ${(err as Error).message}`);
    }
  };
  const current = JSON.stringify(pinnedTrust() ?? reportedTrust(reported), null, 1);
  return (
    <details>
      <summary>Trusted keys ({pinned ? 'pinned in this browser' : 'as the gateway reports them: compare and pin them'})</summary>
      <form onSubmit={(e) => { e.preventDefault(); pin(String(new FormData(e.currentTarget as HTMLFormElement).get('trust'))); }}>
        <Field label="Trust file (JSON, as for hgd ledger verify --trust)">{(id) => <textarea id={id} name="trust" rows={8} value={current} />}</Field>
        <button type="submit">Pin these keys</button> {pinned ? <button type="button" class="secondary" onClick={() => { unpinTrust(); onChange(); }}>Forget the pinned keys</button> : null}
      </form>
      <ErrorNote message={error} />
    </details>
  );
}

function LatestCheckpoint({ data, trust, onTrustChange }: { data: ReportedCheckpoint; trust: Trust; onTrustChange: () => void }) {
  const verdict = verifyCheckpointNote(data.note, trust);
  // The first checkpoint this browser verifies is where its first consistency check starts.
  useEffect(() => { if (verdict.ok && !lastSeenCheckpoint()) rememberCheckpoint(data); }, [data, verdict.ok]);
  return (
    <Section title="Latest checkpoint">
      <dl class="numbers">
        <dt>log</dt><dd>{data.origin}</dd>
        <dt>entries</dt><dd>{data.treeSize}</dd>
        <dt>signed</dt><dd>{formatDateTime(data.signedAt)}</dd>
      </dl>
      <VerdictNote verdict={verdict} />
      <h3>Witness cosignatures</h3>
      {verdict.checkpoint && verdict.checkpoint.cosigners.length > 0 ? (
        <ul>{verdict.checkpoint.cosigners.map((c) => <li key={c.witness}>{c.witness}: cosigned {formatDateTime(new Date(c.timestamp * 1000).toISOString())} (signature verified here)</li>)}</ul>
      ) : <p>No cosignature on this checkpoint verifies with a trusted witness key{trust.witnesses.length === 0 ? ' (none is configured)' : ''}.</p>}
      <pre class="note" aria-label="The signed checkpoint note">{data.note}</pre>
      <TrustPanel reported={data} pinned={pinnedTrust() !== null} onChange={onTrustChange} />
    </Section>
  );
}

function ProofCheck({ title, fetchLabel, inputLabel, initial, load, verify }: {
  title: string; fetchLabel: string; inputLabel: string; initial: string;
  load: (input: string) => Promise<unknown>; verify: (input: string, proof: unknown) => Verdict;
}) {
  const [input, setInput] = useState(initial);
  const [text, setText] = useState('');
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [error, setError] = useState<string | null>(null);
  const fetchProof = async (e: Event) => {
    e.preventDefault();
    setVerdict(null);
    try {
      setText(JSON.stringify(await load(input), null, 1));
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const check = () => {
    let proof: unknown;
    try {
      proof = JSON.parse(text);
    } catch {
      return setVerdict({ ok: false, words: 'the proof is not valid JSON' });
    }
    setVerdict(verify(input, proof));
  };
  return (
    <Section title={title}>
      <form onSubmit={fetchProof} class="inline">
        <Field label={inputLabel}>{(id) => <input id={id} value={input} inputMode="numeric" onInput={(e) => setInput((e.currentTarget as HTMLInputElement).value)} />}</Field>
        <button type="submit">{fetchLabel}</button>
      </form>
      <ErrorNote message={error} />
      {text ? (
        <>
          <Field label="Proof as received (edit it to see a tampered proof fail)">{(id) => <textarea id={id} class="proof" rows={10} value={text} onInput={(e) => { setText((e.currentTarget as HTMLTextAreaElement).value); setVerdict(null); }} />}</Field>
          <button type="button" onClick={check}>Verify in this browser</button>
        </>
      ) : null}
      <VerdictNote verdict={verdict} />
    </Section>
  );
}

export function AuditorPage(_props: { claims: Claims }) {
  const [trustVersion, setTrustVersion] = useState(0);
  const latest = useLoad(() => request<ReportedCheckpoint>('/ledger/checkpoint'), [trustVersion]);
  if (!latest.data) return <><ErrorNote message={latest.error} />{latest.error ? null : <p role="status">Loading the latest checkpoint…</p>}</>;
  const data = latest.data;
  let trust: Trust;
  try {
    trust = trustFromFile(pinnedTrust() ?? reportedTrust(data));
  } catch (err) {
    return <ErrorNote message={`The trusted keys cannot be used: ${(err as Error).message}`} />;
  }
  const seen = lastSeenCheckpoint();
  return (
    <>
      <LatestCheckpoint data={data} trust={trust} onTrustChange={() => setTrustVersion((v) => v + 1)} />
      <ProofCheck
        title="Inclusion proof" inputLabel="Entry number (seq)" fetchLabel="Fetch the entry and its proof" initial="0"
        load={(seq) => request(`/ledger/entries/${encodeURIComponent(seq.trim())}`)}
        verify={(seq, proof) => verifyInclusionAnswer(proof as object, Number(seq), trust)}
      />
      <ProofCheck
        title="Consistency proof" inputLabel={`From the checkpoint of this size (the last one this browser verified${seen ? `: ${seen.treeSize}, ${formatDateTime(seen.signedAt)}` : ''})`}
        fetchLabel={`Fetch the proof to ${data.treeSize} entries`} initial={String(seen?.treeSize ?? 1)}
        load={(size) => loadConsistency(Number(size), data)}
        verify={(_size, answer) => {
          const a = answer as { older: { note: string }; proof: object };
          const v = verifyConsistencyAnswer(a.older?.note, data.note, a.proof ?? {}, trust);
          if (v.ok) rememberCheckpoint(data);
          return v;
        }}
      />
    </>
  );
}

/** The older signed checkpoint (the remembered one when its size matches) and the proof from it to the latest. */
async function loadConsistency(size: number, latest: ReportedCheckpoint): Promise<{ older: { treeSize: number; note: string }; proof: unknown }> {
  if (!Number.isInteger(size) || size < 1) throw new Error('the size must be a whole number from 1');
  const seen = lastSeenCheckpoint();
  const older = seen && seen.treeSize === size ? seen : await request<ReportedCheckpoint>(`/ledger/checkpoint?size=${size}`);
  const proof = await request(`/ledger/consistency?from=${size}&to=${latest.treeSize}`);
  return { older: { treeSize: older.treeSize, note: older.note }, proof };
}
