/**
 * Where `hgd admin org|user|key|study …` sends its changes. When a gateway answers at the configured
 * URL (--url, HGD_URL, else HGD_HOST:PORT) it calls the gateway's admin routes, so it works while the
 * gateway holds the single-process embedded database; only when none answers does it open the
 * database itself. Both paths run app/admin-operations.ts: the same checks, the same ledger entries.
 *
 * The admin token for the routes: --token or HGD_ADMIN_TOKEN; else a login with --username and a
 * password on standard input; else, on the gateway's own machine, a five-minute token signed with the
 * gateway's key file (what `hgd admin token --role admin` prints; ledger actor `admin:cli`, as when
 * the CLI writes to the database).
 */
import fs from 'node:fs';
import type { Config } from '../config';
import { TokenService } from '../app/auth';
import { openAdminServices } from '../app/admin';
import { AdminOperations } from '../app/admin-operations';
import type { Identity } from '../storage-layer/http-identity';

type Ops = AdminOperations;

/** The operations without the acting administrator (the token or the CLI names it). */
export interface AdminClient {
  /** 'gateway' (HTTP routes) or 'database' (no gateway answered). */
  readonly via: 'gateway' | 'database';
  listOrganisations(): ReturnType<Ops['listOrganisations']>;
  createOrganisation(body: unknown): ReturnType<Ops['createOrganisation']>;
  listUsers(): ReturnType<Ops['listUsers']>;
  createUser(body: unknown): ReturnType<Ops['createUser']>;
  listApiKeys(org?: string): ReturnType<Ops['listApiKeys']>;
  createApiKey(body: unknown): ReturnType<Ops['createApiKey']>;
  revokeApiKey(keyId: string): Promise<void>;
  listStudies(): ReturnType<Ops['listStudies']>;
  createStudy(body: unknown): ReturnType<Ops['createStudy']>;
  addResearcher(studyId: string, body: unknown): ReturnType<Ops['addResearcher']>;
}

export interface AdminConnectOptions {
  /** An explicit --url: no fallback to the database when it does not answer. */
  url?: string;
  token?: string;
  username?: string;
  /** The admin's password (read from standard input by the caller). */
  password?: string;
}

/** The administrator the CLI acts as when it signs its own token or writes to the database. */
export const CLI_ADMIN: Identity = { role: 'admin', sub: 'cli' };
const CLI_TOKEN_SECONDS = 300;
const PROBE_TIMEOUT_MS = 3000;

export async function withAdminClient<T>(config: Config, o: AdminConnectOptions, fn: (c: AdminClient) => Promise<T>): Promise<T> {
  const url = (o.url ?? config.client.url).replace(/\/+$/, '');
  if (await gatewayAnswers(url)) return fn(httpAdminClient(url, await adminToken(config, o, url)));
  if (o.url) throw new Error(`no HGD gateway answers at ${url}`);
  const services = await openAdminServices(config);
  try {
    return await fn(databaseAdminClient(new AdminOperations(services.identity, services.studies)));
  } finally {
    await services.close();
  }
}

/** Whether an HGD gateway answers GET /health at `url` (anything else, or nothing, is "no"). */
export async function gatewayAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const body = (await res.json()) as { ledgerSize?: unknown };
    return typeof body.ledgerSize === 'number';
  } catch {
    return false;
  }
}

async function adminToken(config: Config, o: AdminConnectOptions, url: string): Promise<string> {
  const given = o.token ?? config.client.adminToken;
  if (given) return given;
  if (o.username !== undefined) {
    if (o.password === undefined) throw new Error('--username needs --password-stdin (the password on standard input)');
    return login(url, o.username, o.password);
  }
  if (fs.existsSync(config.auth.tokenKeyFile)) return TokenService.fromConfig(config).issue(CLI_ADMIN, CLI_TOKEN_SECONDS);
  throw new Error(`the gateway at ${url} needs an admin: --token or HGD_ADMIN_TOKEN, or --username U --password-stdin`);
}

async function login(url: string, username: string, password: string): Promise<string> {
  const body = await request<{ token: string }>(url, undefined, 'POST', '/auth/login', { username, password });
  return body.token;
}

/** One call; an error answer becomes an Error with the gateway's message (and the field it names). */
async function request<T>(url: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: { message?: string; field?: string } | undefined;
  try {
    parsed = JSON.parse(text) as { message?: string; field?: string };
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const field = parsed?.field ? ` (field "${parsed.field}")` : '';
    throw new Error(`${parsed?.message ?? text.slice(0, 200)}${field} [${res.status} from ${method} ${path}]`);
  }
  return parsed as T;
}

export function httpAdminClient(url: string, token: string): AdminClient {
  const call = <T>(method: string, path: string, body?: unknown) => request<T>(url, token, method, path, body);
  const seg = encodeURIComponent;
  return {
    via: 'gateway',
    listOrganisations: () => call('GET', '/admin/organisations'),
    createOrganisation: (b) => call('POST', '/admin/organisations', b),
    listUsers: () => call('GET', '/admin/users'),
    createUser: (b) => call('POST', '/admin/users', b),
    listApiKeys: (org) => call('GET', `/admin/api-keys${org ? `?org=${seg(org)}` : ''}`),
    createApiKey: (b) => call('POST', '/admin/api-keys', b),
    revokeApiKey: (keyId) => call('DELETE', `/admin/api-keys/${seg(keyId)}`),
    listStudies: () => call('GET', '/admin/studies'),
    createStudy: (b) => call('POST', '/admin/studies', b),
    addResearcher: (id, b) => call('POST', `/admin/studies/${seg(id)}/researchers`, b),
  };
}

export function databaseAdminClient(ops: AdminOperations): AdminClient {
  const a = CLI_ADMIN;
  return {
    via: 'database',
    listOrganisations: () => ops.listOrganisations(),
    createOrganisation: (b) => ops.createOrganisation(a, b),
    listUsers: () => ops.listUsers(),
    createUser: (b) => ops.createUser(a, b),
    listApiKeys: (org) => ops.listApiKeys(org),
    createApiKey: (b) => ops.createApiKey(a, b),
    revokeApiKey: async (keyId) => {
      await ops.revokeApiKey(a, keyId);
    },
    listStudies: () => ops.listStudies(),
    createStudy: (b) => ops.createStudy(a, b),
    addResearcher: (id, b) => ops.addResearcher(a, id, b),
  };
}
