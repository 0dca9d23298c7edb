/**
 * Grants: per indicator, to a study (research) or to a provider (treatment), each with an expiry.
 * Switching one off revokes it (DELETE); switching it on grants the same again (POST). Either takes
 * effect from the next query or read on, and the page says so.
 */
import { useState } from 'preact/hooks';
import { messageOf, request } from '../api';
import { ErrorNote, Field, Section, StatusNote, TableRegion } from '../components';
import { useLoad } from '../hooks';
import { formatDate, indicatorWords, type IndicatorInfo } from '../words';

interface Study { id: string; title: string; purpose: { code: string; display?: string } }
interface Grant {
  id: string;
  study?: string | null;
  grantee?: string | null;
  indicators: string[];
  purpose: { code: string };
  period: { start: string | null; end: string | null };
  status: 'active' | 'pending' | 'expired' | 'revoked';
}

interface GrantBody { study?: string; grantee?: string; indicators: string[]; purpose: string; period?: { end: string } }

function whoOf(g: Grant, studies: Study[]): string {
  if (g.grantee) return `provider ${g.grantee} (treatment)`;
  const s = studies.find((x) => x.id === g.study);
  return s ? `study “${s.title}” (${s.id})` : `study ${g.study}`;
}

function effectWords(g: Grant, on: boolean, studies: Study[], catalogue: Map<string, IndicatorInfo>): string {
  const who = whoOf(g, studies);
  const what = indicatorWords(g.indicators, catalogue);
  const next = g.grantee ? 'read' : 'query';
  return on
    ? `Switched on: ${who} may use your ${what} from the next ${next} on.`
    : `Switched off: ${who} no longer uses your ${what}, from the next ${next} on. Results already released stay as they are.`;
}

/** The same grant again, with its expiry if that is still ahead. */
function renewalOf(g: Grant): GrantBody {
  const end = g.period.end && Date.parse(g.period.end) > Date.now() ? { period: { end: g.period.end } } : {};
  return { ...(g.grantee ? { grantee: g.grantee } : { study: g.study ?? '' }), indicators: g.indicators, purpose: g.purpose.code, ...end };
}

/** The grant the form asks for: a study's (with its purpose) or a provider's (TREAT), expiring at the end of the chosen day. */
function grantBody(form: FormData, kind: 'study' | 'provider', studies: Study[]): GrantBody {
  const indicators = form.getAll('indicator').map(String);
  const end = String(form.get('end') ?? '');
  const study = studies.find((s) => s.id === form.get('study'));
  const body: GrantBody = kind === 'study'
    ? { study: study?.id ?? '', indicators, purpose: study?.purpose.code ?? '' }
    : { grantee: String(form.get('grantee') ?? '').trim(), indicators, purpose: 'TREAT' };
  if (end) body.period = { end: new Date(`${end}T23:59:59Z`).toISOString() };
  return body;
}

function GrantForm({ studies, catalogue, onGranted }: { studies: Study[]; catalogue: Map<string, IndicatorInfo>; onGranted: (g: Grant) => void }) {
  const [kind, setKind] = useState<'study' | 'provider'>('study');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = grantBody(new FormData(e.currentTarget as HTMLFormElement), kind, studies);
    if (body.indicators.length === 0) return setError('Choose at least one indicator to share.');
    try {
      onGranted(await request<Grant>('/patients/me/grants', { json: body }));
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <form onSubmit={submit} class="grant-form">
      <fieldset>
        <legend>Share with</legend>
        <label><input type="radio" name="kind" checked={kind === 'study'} onChange={() => setKind('study')} /> a study (research)</label>
        <label><input type="radio" name="kind" checked={kind === 'provider'} onChange={() => setKind('provider')} /> a provider (treatment)</label>
      </fieldset>
      {kind === 'study' ? (
        <Field label="Study">{(id) => (
          <select id={id} name="study" required>
            {studies.map((s) => <option key={s.id} value={s.id}>{s.title} ({s.id})</option>)}
          </select>
        )}</Field>
      ) : (
        <Field label="Provider organisation" hint="The organisation id your provider gave you.">{(id, hint) => <input id={id} name="grantee" required aria-describedby={hint} />}</Field>
      )}
      <fieldset>
        <legend>Indicators</legend>
        <div class="checks">
          {[...catalogue.values()].map((i) => <label key={i.name}><input type="checkbox" name="indicator" value={i.name} /> {i.display}</label>)}
        </div>
      </fieldset>
      <Field label="Expires on (optional)" hint="The last day the grant applies; empty: until you switch it off.">{(id, hint) => <input id={id} name="end" type="date" aria-describedby={hint} />}</Field>
      <ErrorNote message={error} />
      <button type="submit">Grant</button>
    </form>
  );
}

function GrantTable({ grants, studies, catalogue, onToggle }: { grants: Grant[]; studies: Study[]; catalogue: Map<string, IndicatorInfo>; onToggle: (g: Grant) => void }) {
  if (grants.length === 0) return <p>You have granted nothing yet.</p>;
  return (
    <TableRegion label="Your grants">
      <table>
        <thead><tr><th scope="col">With</th><th scope="col">Indicators</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col">Switch</th></tr></thead>
        <tbody>
          {grants.map((g) => {
            const on = g.status === 'active' || g.status === 'pending';
            const label = `${on ? 'Switch off' : 'Switch on'} ${indicatorWords(g.indicators, catalogue)} for ${whoOf(g, studies)}`;
            return (
              <tr key={g.id}>
                <td>{whoOf(g, studies)}</td>
                <td>{indicatorWords(g.indicators, catalogue)}</td>
                <td>{g.period.end ? formatDate(g.period.end) : 'no expiry'}</td>
                <td><span class={`badge ${g.status}`}>{g.status}</span></td>
                <td><button type="button" class="switch" role="switch" aria-checked={on} aria-label={label} onClick={() => onToggle(g)}>{on ? 'On' : 'Off'}</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </TableRegion>
  );
}

export function PatientGrants({ catalogue, onChange }: { catalogue: Map<string, IndicatorInfo>; onChange: () => void }) {
  const grants = useLoad(() => request<{ grants: Grant[] }>('/patients/me/grants'));
  const studies = useLoad(() => request<{ studies: Study[] }>('/studies'));
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const studyList = studies.data?.studies ?? [];
  const done = (g: Grant, on: boolean) => {
    setNote(effectWords(g, on, studyList, catalogue));
    setError(null);
    grants.reload();
    onChange();
  };
  const toggle = async (g: Grant) => {
    const on = g.status === 'revoked' || g.status === 'expired';
    try {
      if (on) await request('/patients/me/grants', { json: renewalOf(g) });
      else await request(`/patients/me/grants/${g.id}`, { method: 'DELETE' });
      done(g, on);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  // A grant switched on again is a new grant: show the newest per (who, indicators) only.
  const shown = latestPerTarget(grants.data?.grants ?? []);
  return (
    <Section title="Who may use your data" id="grants">
      <p>Nobody uses your data unless you grant it here. Research studies only ever see totals across many patients.</p>
      <ErrorNote message={grants.error ?? studies.error ?? error} />
      <StatusNote message={note} />
      <GrantTable grants={shown} studies={studyList} catalogue={catalogue} onToggle={toggle} />
      <h3>Grant access</h3>
      <GrantForm studies={studyList} catalogue={catalogue} onGranted={(g) => done(g, true)} />
    </Section>
  );
}

function latestPerTarget(grants: Grant[]): Grant[] {
  const latest = new Map<string, Grant>();
  for (const g of grants) {
    const key = JSON.stringify([g.study ?? null, g.grantee ?? null, [...g.indicators].sort()]);
    const seen = latest.get(key);
    // Prefer a grant that is on; among equals, the later one (the list is in creation order).
    if (!seen || g.status === 'active' || g.status === 'pending' || !(seen.status === 'active' || seen.status === 'pending')) latest.set(key, g);
  }
  return [...latest.values()];
}
