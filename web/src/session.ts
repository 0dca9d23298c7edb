/**
 * The signed-in token, kept in sessionStorage (gone when the tab closes). Its claims are read only to
 * choose which page to show: the gateway checks the token on every request and decides what it allows.
 */
export type Role = 'admin' | 'provider' | 'patient' | 'researcher' | 'auditor';

export interface Claims {
  role: Role;
  sub: string;
  org?: string;
  /** Expiry, seconds since the epoch. */
  exp?: number;
}

const KEY = 'hgd.token';
const ROLES: Role[] = ['admin', 'provider', 'patient', 'researcher', 'auditor'];

export function currentToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  return atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
}

/** The token's claims, or null when it is not a JWT of one of HGD's user roles. */
export function claimsOf(token: string): Claims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(base64UrlDecode(parts[1]!)) as Record<string, unknown>;
    if (!ROLES.includes(payload.role as Role) || typeof payload.sub !== 'string') return null;
    return {
      role: payload.role as Role,
      sub: payload.sub,
      ...(typeof payload.org === 'string' ? { org: payload.org } : {}),
      ...(typeof payload.exp === 'number' ? { exp: payload.exp } : {}),
    };
  } catch {
    return null;
  }
}
