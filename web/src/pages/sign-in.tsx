/** Sign in with a username and password (POST /auth/login), or paste a token from `hgd admin token`. */
import { useState } from 'preact/hooks';
import { messageOf, request } from '../api';
import { claimsOf, saveToken, type Claims } from '../session';
import { ErrorNote, Field, Section } from '../components';

type Accept = (token: string) => void;

function PasswordForm({ accept, onError }: { accept: Accept; onError: (m: string) => void }) {
  const login = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    try {
      const r = await request<{ token: string }>('/auth/login', { json: { username: form.get('username'), password: form.get('password') }, token: null });
      accept(r.token);
    } catch (err) {
      onError(messageOf(err));
    }
  };
  return (
    <Section title="With your password">
      <form onSubmit={login}>
        <Field label="Username">{(id) => <input id={id} name="username" autocomplete="username" required />}</Field>
        <Field label="Password">{(id) => <input id={id} name="password" type="password" autocomplete="current-password" required />}</Field>
        <button type="submit">Sign in</button>
      </form>
    </Section>
  );
}

function TokenForm({ accept }: { accept: Accept }) {
  const paste = (e: Event) => {
    e.preventDefault();
    accept(String(new FormData(e.currentTarget as HTMLFormElement).get('token') ?? ''));
  };
  return (
    <Section title="With a token">
      <form onSubmit={paste}>
        <Field label="Token" hint="From `npx hgd admin token --role …`; it expires after 15 minutes by default.">
          {(id, hint) => <textarea id={id} name="token" rows={3} aria-describedby={hint} required />}
        </Field>
        <button type="submit">Use this token</button>
      </form>
    </Section>
  );
}

export function SignIn({ onSignedIn }: { onSignedIn: (c: Claims) => void }) {
  const [error, setError] = useState<string | null>(null);
  const accept = (token: string) => {
    const claims = claimsOf(token.trim());
    if (!claims) return setError('This token cannot be used: it is not an HGD token of a user role (patient, researcher, provider, auditor or admin).');
    saveToken(token.trim());
    onSignedIn(claims);
  };
  return (
    <>
      <h1>Sign in</h1>
      <p>Patients, researchers, providers, auditors and administrators sign in here. What you see next depends on your role.</p>
      <ErrorNote message={error} />
      <div class="grid">
        <PasswordForm accept={accept} onError={setError} />
        <TokenForm accept={accept} />
      </div>
    </>
  );
}
