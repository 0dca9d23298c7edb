/**
 * The administrator's page, on the admin HTTP routes (role admin; /work/briefs/admin-api.md):
 * organisations, users, providers' API keys, studies and their researchers. Secrets the gateway
 * returns once (a generated password, an API key) are shown once and never stored by the page.
 */
import { useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import { messageOf, request } from '../api';
import { ErrorNote, Field, Section, StatusNote, TableRegion } from '../components';
import { useLoad } from '../hooks';
import { formatDateTime } from '../words';
import type { Claims } from '../session';

const ROLES = ['patient', 'researcher', 'provider', 'auditor', 'admin'];
const PURPOSES = ['HRESCH', 'BIORCH', 'CLINTRCH', 'DSRCH', 'POARCH', 'TRANSRCH', 'PUBHLTH'];

/** A form that posts its fields (blank ones left out), shows the outcome and reloads the list. */
function AdminForm({ submitLabel, send, onDone, children }: { submitLabel: string; send: (f: Record<string, string>) => Promise<string>; onDone: () => void; children: ComponentChildren }) {
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const fields = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]).filter(([, v]) => v !== ''));
    try {
      setNote(await send(fields));
      setError(null);
      form.reset();
      onDone();
    } catch (err) {
      setNote(null);
      setError(messageOf(err));
    }
  };
  return (
    <form onSubmit={submit} class="admin-form">
      {children}
      <button type="submit">{submitLabel}</button>
      <ErrorNote message={error} />
      <StatusNote message={note} />
    </form>
  );
}

function Organisations() {
  const list = useLoad(() => request<{ organisations: Array<{ id: string; createdAt: string }> }>('/admin/organisations'));
  return (
    <Section title="Organisations">
      <ErrorNote message={list.error} />
      <ul>{(list.data?.organisations ?? []).map((o) => <li key={o.id}>{o.id} <small>since {formatDateTime(o.createdAt)}</small></li>)}</ul>
      <h3>Register an organisation</h3>
      <AdminForm submitLabel="Create organisation" onDone={list.reload} send={async (f) => `Organisation ${(await request<{ id: string }>('/admin/organisations', { json: { id: f.id } })).id} created.`}>
        <Field label="Organisation id">{(id) => <input id={id} name="id" required />}</Field>
      </AdminForm>
    </Section>
  );
}

function Users() {
  const list = useLoad(() => request<{ users: Array<{ username: string; role: string; org?: string; createdAt: string }> }>('/admin/users'));
  const send = async (f: Record<string, string>) => {
    const r = await request<{ username: string; role: string; password?: string }>('/admin/users', { json: f });
    return r.password ? `User ${r.username} (${r.role}) created. Their password, shown only now: ${r.password}` : `User ${r.username} (${r.role}) created.`;
  };
  return (
    <Section title="Users">
      <ErrorNote message={list.error} />
      <TableRegion label="Users">
        <table>
          <thead><tr><th scope="col">Username</th><th scope="col">Role</th><th scope="col">Organisation</th><th scope="col">Created</th></tr></thead>
          <tbody>{(list.data?.users ?? []).map((u) => <tr key={u.username}><td>{u.username}</td><td>{u.role}</td><td>{u.org ?? ''}</td><td>{formatDateTime(u.createdAt)}</td></tr>)}</tbody>
        </table>
      </TableRegion>
      <h3>Create a user</h3>
      <AdminForm submitLabel="Create user" onDone={list.reload} send={send}>
        <Field label="Role">{(id) => <select id={id} name="role">{ROLES.map((r) => <option key={r}>{r}</option>)}</select>}</Field>
        <Field label="Username">{(id) => <input id={id} name="username" required autocomplete="off" />}</Field>
        <Field label="Organisation (providers)">{(id) => <input id={id} name="org" />}</Field>
        <Field label="Patient identifier (patients)" hint="system|value, as the providers know the patient.">{(id, hint) => <input id={id} name="patientIdentifier" aria-describedby={hint} />}</Field>
        <Field label="Password (optional)" hint="Empty: the gateway generates one and shows it once.">{(id, hint) => <input id={id} name="password" type="password" autocomplete="new-password" aria-describedby={hint} />}</Field>
      </AdminForm>
    </Section>
  );
}

function ApiKeys() {
  const list = useLoad(() => request<{ keys: Array<{ keyId: string; org: string; createdAt: string; revokedAt?: string | null }> }>('/admin/api-keys'));
  const [error, setError] = useState<string | null>(null);
  const revoke = (keyId: string) => request(`/admin/api-keys/${encodeURIComponent(keyId)}`, { method: 'DELETE' }).then(() => { setError(null); list.reload(); }, (e) => setError(messageOf(e)));
  return (
    <Section title="Provider API keys">
      <ErrorNote message={list.error ?? error} />
      <TableRegion label="API keys">
        <table>
          <thead><tr><th scope="col">Key id</th><th scope="col">Organisation</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
          <tbody>{(list.data?.keys ?? []).map((k) => (
            <tr key={k.keyId}><td><code>{k.keyId}</code></td><td>{k.org}</td><td>{formatDateTime(k.createdAt)}</td>
              <td>{k.revokedAt ? `revoked ${formatDateTime(k.revokedAt)}` : <button type="button" class="secondary" onClick={() => revoke(k.keyId)} aria-label={`Revoke key ${k.keyId}`}>Revoke</button>}</td></tr>
          ))}</tbody>
        </table>
      </TableRegion>
      {list.data && list.data.keys.length === 0 ? <p>No API keys yet.</p> : null}
      <h3>Create a key for a provider organisation</h3>
      <AdminForm submitLabel="Create API key" onDone={list.reload} send={async (f) => { const r = await request<{ keyId: string; key: string }>('/admin/api-keys', { json: { org: f.org } }); return `Key ${r.keyId} created. The key, shown only now: ${r.key}`; }}>
        <Field label="Organisation">{(id) => <input id={id} name="org" required />}</Field>
      </AdminForm>
    </Section>
  );
}

function studyBody(f: Record<string, string>): Record<string, unknown> {
  return {
    id: f.id, title: f.title, ...(f.purpose ? { purpose: f.purpose } : {}),
    ...(f.minCohort ? { minCohort: Number(f.minCohort) } : {}), ...(f.epsilonBudget ? { epsilonBudget: Number(f.epsilonBudget) } : {}),
  };
}

function Studies() {
  const list = useLoad(() => request<{ studies: Array<{ id: string; title: string; purpose: unknown; minCohort: number; epsilonBudget: number; researchers: string[] }> }>('/admin/studies'));
  const studies = list.data?.studies ?? [];
  return (
    <Section title="Studies">
      <ErrorNote message={list.error} />
      <TableRegion label="Studies">
        <table>
          <thead><tr><th scope="col">Study</th><th scope="col">Min. cohort</th><th scope="col">ε budget</th><th scope="col">Researchers</th></tr></thead>
          <tbody>{studies.map((s) => <tr key={s.id}><td>{s.title} ({s.id})</td><td>{s.minCohort}</td><td>{s.epsilonBudget}</td><td>{s.researchers.join(', ') || 'none yet'}</td></tr>)}</tbody>
        </table>
      </TableRegion>
      <h3>Register a study</h3>
      <AdminForm submitLabel="Create study" onDone={list.reload} send={async (f) => `Study ${(await request<{ id: string }>('/admin/studies', { json: studyBody(f) })).id} created.`}>
        <Field label="Study id">{(id) => <input id={id} name="id" required />}</Field>
        <Field label="Title">{(id) => <input id={id} name="title" required />}</Field>
        <Field label="Purpose">{(id) => <select id={id} name="purpose">{PURPOSES.map((p) => <option key={p}>{p}</option>)}</select>}</Field>
        <Field label="Minimum cohort (optional)">{(id) => <input id={id} name="minCohort" type="number" min="1" step="1" />}</Field>
        <Field label="ε budget (optional)">{(id) => <input id={id} name="epsilonBudget" type="number" min="0" step="any" />}</Field>
      </AdminForm>
      <h3>Add a researcher to a study</h3>
      <AdminForm submitLabel="Add researcher" onDone={list.reload} send={async (f) => { const r = await request<{ study: string; username: string }>(`/admin/studies/${encodeURIComponent(f.study ?? '')}/researchers`, { json: { username: f.username } }); return `${r.username} is now a researcher of ${r.study}.`; }}>
        <Field label="Study of the researcher">{(id) => <select id={id} name="study">{studies.map((s) => <option key={s.id} value={s.id}>{s.title} ({s.id})</option>)}</select>}</Field>
        <Field label="Researcher’s username">{(id) => <input id={id} name="username" required />}</Field>
      </AdminForm>
    </Section>
  );
}

export function AdminPage(_props: { claims: Claims }) {
  return (
    <>
      <Organisations />
      <Users />
      <ApiKeys />
      <Studies />
    </>
  );
}
