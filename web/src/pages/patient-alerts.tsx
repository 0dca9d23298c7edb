/**
 * The patient's monitoring: alert rules (list, create, edit in place, each rule's history, delete)
 * and their alerts, listed on load and then live over GET /alerts/stream (event-stream.ts).
 */
import { useEffect, useState } from 'preact/hooks';
import { messageOf, request } from '../api';
import { ErrorNote, Field, Section, StatusNote, TableRegion } from '../components';
import { follow } from '../event-stream';
import { useLoad } from '../hooks';
import { formatDateTime, formatNumber, indicatorWords, unitWords, type IndicatorInfo } from '../words';

interface Rule { id: string; indicator: string; condition: string; notify: string[]; version: number; createdBy: string; createdAt: string; updatedAt: string | null }
interface RuleVersion { version: number; action: 'created' | 'changed' | 'deleted'; condition: string; notify: string[]; stateReset: boolean; changedBy: string; changedAt: string; ledgerSeq: number | null }
interface Alert { seq: number; id: string; kind: 'rule' | 'break-glass'; detail: Record<string, unknown>; raisedAt: string }

const RULES = '/patients/me/alert-rules';
const ruleUrl = (id: string) => `${RULES}/${encodeURIComponent(id)}`;
const whoWords = (actor: string) => (actor.startsWith('patient:') ? 'you' : actor.replace(/^provider:/, ''));

function alertWords(a: Alert, catalogue: Map<string, IndicatorInfo>): string {
  const d = a.detail;
  if (a.kind === 'break-glass') return `${String(d.org)} read your records in an emergency: “${String(d.reason ?? '')}”.`;
  const indicator = indicatorWords([String(d.indicator)], catalogue);
  return `Your ${indicator} was ${formatNumber(Number(d.value))} ${unitWords(typeof d.unit === 'string' ? d.unit : '')} on ${formatDateTime(String(d.effectiveStart))}: rule “${String(d.condition)}”.`;
}

function History({ rule, version }: { rule: Rule; version: number }) {
  const { data, error } = useLoad(() => request<{ versions: RuleVersion[] }>(`${ruleUrl(rule.id)}/history`), [rule.id, version]);
  return (
    <>
      <ErrorNote message={error} />
      <TableRegion label={`History of rule “${rule.condition}”`}>
        <table>
          <thead><tr><th scope="col">Version</th><th scope="col">What</th><th scope="col">Condition</th><th scope="col">By</th><th scope="col">When</th></tr></thead>
          <tbody>{(data?.versions ?? []).map((v) => (
            <tr key={v.version}><td>{v.version}</td><td>{v.action}{v.stateReset ? ' (window restarted)' : ''}</td><td>{v.condition}</td><td>{whoWords(v.changedBy)}</td><td>{formatDateTime(v.changedAt)}</td></tr>
          ))}</tbody>
        </table>
      </TableRegion>
    </>
  );
}

/** The condition edited in place (PATCH): same indicator, a new threshold or window. */
function EditRule({ rule, onSave, onCancel }: { rule: Rule; onSave: (condition: string) => void; onCancel: () => void }) {
  const submit = (e: Event) => {
    e.preventDefault();
    onSave(String(new FormData(e.currentTarget as HTMLFormElement).get('condition')));
  };
  return (
    <form onSubmit={submit} class="inline">
      <Field label={`New condition for rule “${rule.condition}”`}>{(id) => <input id={id} name="condition" required minLength={3} maxLength={200} defaultValue={rule.condition} />}</Field>
      <button type="submit">Save</button>
      <button type="button" class="secondary" onClick={onCancel}>Cancel</button>
    </form>
  );
}

function RuleItem({ rule, onChanged }: { rule: Rule; onChanged: (note: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [showHistory, setShowHistory] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (what: () => Promise<string>) => {
    try {
      onChanged(await what());
      setError(null);
      setEditing(false);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const save = (condition: string) => act(async () => {
    const r = await request<Rule>(ruleUrl(rule.id), { method: 'PATCH', json: { condition } });
    return `Rule changed to “${r.condition}” (version ${r.version}); it judges readings from now on.`;
  });
  const remove = () => act(async () => { await request(ruleUrl(rule.id), { method: 'DELETE' }); return `Rule “${rule.condition}” deleted.`; });
  return (
    <li class="rule">
      {editing ? <EditRule rule={rule} onSave={(c) => void save(c)} onCancel={() => setEditing(false)} /> : (
        <p><strong>{rule.condition}</strong> <small>(version {rule.version}, set by {whoWords(rule.createdBy)})</small></p>
      )}
      <ErrorNote message={error} />
      <div class="inline">
        {editing ? null : <button type="button" class="secondary" onClick={() => setEditing(true)}>Edit rule “{rule.condition}”</button>}
        <button type="button" class="secondary" aria-expanded={showHistory} onClick={() => setShowHistory(!showHistory)}>History of rule “{rule.condition}”</button>
        <button type="button" class="secondary" onClick={() => void remove()}>Delete rule “{rule.condition}”</button>
      </div>
      {showHistory ? <History rule={rule} version={rule.version} /> : null}
    </li>
  );
}

function NewRule({ catalogue, onCreated }: { catalogue: Map<string, IndicatorInfo>; onCreated: (note: string) => void }) {
  const [error, setError] = useState<string | null>(null);
  const measurements = [...catalogue.values()].filter((i) => i.kind !== 'demographic');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    try {
      const r = await request<Rule>(RULES, { json: { indicator: data.get('indicator'), condition: data.get('condition') } });
      setError(null);
      form.reset();
      onCreated(`Rule “${r.condition}” created: it judges readings uploaded from now on.`);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <form onSubmit={submit} class="inline">
      <Field label="Rule indicator">{(id) => <select id={id} name="indicator">{measurements.map((i) => <option key={i.name} value={i.name}>{i.display}</option>)}</select>}</Field>
      <Field label="Condition" hint="For example “heart_rate > 130 for 5 min” or “glucose > 13.9 mmol/L twice in 1 h”.">{(id, hint) => <input id={id} name="condition" required minLength={3} maxLength={200} aria-describedby={hint} />}</Field>
      <button type="submit">Create rule</button>
      <ErrorNote message={error} />
    </form>
  );
}

export function AlertRules({ catalogue }: { catalogue: Map<string, IndicatorInfo> }) {
  const { data, error, reload } = useLoad(() => request<{ rules: Rule[] }>(RULES));
  const [note, setNote] = useState<string | null>(null);
  const changed = (n: string) => { setNote(n); reload(); };
  return (
    <Section title="Alert rules" id="rules">
      <ErrorNote message={error} />
      <StatusNote message={note} />
      {data && data.rules.length === 0 ? <p>No alert rules.</p> : null}
      <ul class="rules">{(data?.rules ?? []).map((r) => <RuleItem key={`${r.id}:${r.version}`} rule={r} onChanged={changed} />)}</ul>
      <NewRule catalogue={catalogue} onCreated={changed} />
    </Section>
  );
}

/** Alerts on load, then live: each streamed alert is added once (by seq). */
function useLiveAlerts(version: number): { alerts: Alert[]; error: string | null; live: string } {
  const { data, error } = useLoad(() => request<{ alerts: Alert[] }>('/patients/me/alerts'), [version]);
  const [streamed, setStreamed] = useState<Alert[]>([]);
  const [live, setLive] = useState('Connecting for live alerts…');
  useEffect(() => {
    if (!data) return;
    const abort = new AbortController();
    const last = Math.max(0, ...data.alerts.map((a) => a.seq));
    setStreamed([]);
    void follow('/alerts/stream', String(last), {
      onEvent: (e) => { if (e.event === 'alert') setStreamed((s) => [...s, JSON.parse(e.data) as Alert]); },
      onState: (connected, reason) => setLive(connected ? 'Live: new alerts appear here as they are raised.' : reason ?? ''),
    }, abort.signal);
    return () => abort.abort();
  }, [data]);
  // Newest first, as the list comes; an alert both listed and streamed (a race at connect) shows once.
  const bySeq = new Map([...(data?.alerts ?? []), ...streamed].map((a) => [a.seq, a]));
  const alerts = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
  return { alerts, error, live };
}

export function Alerts({ catalogue, version }: { catalogue: Map<string, IndicatorInfo>; version: number }) {
  const { alerts, error, live } = useLiveAlerts(version);
  return (
    <Section title="Alerts" id="alerts">
      <ErrorNote message={error} />
      <p class="muted">{live}</p>
      {alerts.length === 0 ? <p>No alerts.</p> : null}
      <ul class="log" aria-live="polite">
        {alerts.map((a) => <li key={a.id} class="warn">{formatDateTime(a.raisedAt)}: {alertWords(a, catalogue)}</li>)}
      </ul>
    </Section>
  );
}
