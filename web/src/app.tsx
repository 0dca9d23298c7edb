/**
 * The shell: sign in (password or a pasted token), then the page of the token's role. One page per
 * role; what the page may do is decided by the gateway on every request, not here.
 */
import { useState } from 'preact/hooks';
import { claimsOf, clearToken, currentToken, type Claims, type Role } from './session';
import { SignIn } from './pages/sign-in';
import { PatientPage } from './pages/patient';
import { ResearcherPage } from './pages/researcher';
import { ProviderPage } from './pages/provider';
import { AuditorPage } from './pages/auditor';
import { AdminPage } from './pages/admin';

const PAGES: Record<Role, { title: string; Page: (p: { claims: Claims }) => preact.JSX.Element }> = {
  patient: { title: 'Your health data', Page: PatientPage },
  researcher: { title: 'Research queries', Page: ResearcherPage },
  provider: { title: 'Uploads and quarantine', Page: ProviderPage },
  auditor: { title: 'Ledger audit', Page: AuditorPage },
  admin: { title: 'Administration', Page: AdminPage },
};

function signedInClaims(): Claims | null {
  const token = currentToken();
  const claims = token ? claimsOf(token) : null;
  if (claims?.exp !== undefined && claims.exp * 1000 < Date.now()) return null;
  return claims;
}

export function App() {
  const [claims, setClaims] = useState<Claims | null>(signedInClaims);
  const signOut = () => { clearToken(); setClaims(null); };
  const page = claims ? PAGES[claims.role] : null;
  return (
    <>
      <a class="skip" href="#main">Skip to the content</a>
      <header class="top">
        <p class="brand">HGD <span>Healthcare Data Gateway</span></p>
        {claims ? (
          <div class="who">
            <span>Signed in as <strong>{claims.role}</strong>{claims.org ? ` of ${claims.org}` : ''}</span>
            <button type="button" class="secondary" onClick={signOut}>Sign out</button>
          </div>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {page && claims ? (
          <>
            <h1>{page.title}</h1>
            <page.Page claims={claims} />
          </>
        ) : (
          <SignIn onSignedIn={setClaims} />
        )}
      </main>
    </>
  );
}
