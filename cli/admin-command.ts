/**
 * `hgd admin org|user|key|study ...`: the identity store and studies, through a running gateway's admin
 * routes, or on the configured database when no gateway answers (cli/admin-client.ts).
 * `hgd admin token`: prints a JWT signed with the gateway's key (config.auth.tokenKeyFile), for
 * scripts and for `hgd ingest`. For a patient named by a provider's identifier, the subject is the
 * pseudonym the gateway derives from it, so the token reads exactly that patient's records.
 */
import type { Config } from '../config';
import { TokenService } from '../app/auth';
import { withAdminClient, type AdminClient, type AdminConnectOptions } from './admin-client';
import { deriveKeyRing, loadMasterKey, pseudonymFor } from '../management-layer/ingest/envelope';
import type { Identity, Role } from '../storage-layer/http-identity';

export const TOKEN_ROLES: readonly Role[] = ['admin', 'provider', 'patient', 'researcher', 'auditor', 'node'];

export interface AdminTokenOptions {
  role: string;
  org?: string;
  sub?: string;
  /** 'system|value', for role patient. */
  patientIdentifier?: string;
  /** Seconds; default config.auth.tokenTtlSeconds. */
  ttl?: string | number;
  /** Studies (researcher). */
  study?: string[];
}

export async function issueAdminToken(config: Config, o: AdminTokenOptions): Promise<string> {
  const role = o.role as Role;
  if (!TOKEN_ROLES.includes(role)) throw new Error(`--role must be one of ${TOKEN_ROLES.join(', ')}, got "${o.role}"`);
  let ttl: number | undefined;
  if (o.ttl !== undefined) {
    ttl = Number(o.ttl);
    if (!Number.isInteger(ttl) || ttl < 1) throw new Error(`--ttl must be a positive number of seconds, got "${o.ttl}"`);
  }
  if (o.patientIdentifier !== undefined && role !== 'patient') throw new Error('--patient-identifier is only for --role patient');
  if (role === 'provider' && !o.org) throw new Error('a provider token needs --org (the organisation its uploads are stored under)');

  let sub = o.sub;
  if (o.patientIdentifier !== undefined) {
    if (sub) throw new Error('give either --sub or --patient-identifier: for a patient the subject is the pseudonym of the identifier');
    const bar = o.patientIdentifier.indexOf('|');
    const system = bar < 0 ? '' : o.patientIdentifier.slice(0, bar).trim();
    const value = bar < 0 ? '' : o.patientIdentifier.slice(bar + 1).trim();
    if (!system || !value) throw new Error(`--patient-identifier must be "system|value", got "${o.patientIdentifier}"`);
    sub = pseudonymFor(deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile)), system, value);
  }
  if (role === 'patient' && !sub) throw new Error('a patient token needs --patient-identifier "system|value" (or --sub PSEUDONYM)');
  if (!sub) sub = role === 'provider' ? `${o.org}:cli` : `cli:${role}`;

  const identity: Identity = { role, sub };
  if (o.org) identity.org = o.org;
  if (o.study?.length) identity.studies = o.study;
  return TokenService.fromConfig(config).issue(identity, ttl);
}

// --- hgd admin org / user / key / study: over a running gateway's routes, else on the database ---

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The options of `hgd admin` itself (before the subcommand): where the gateway is and who signs in. */
export interface AdminGroupOptions {
  url?: string;
  token?: string;
  username?: string;
  passwordStdin?: boolean;
}

/** Connection options from `hgd admin`'s own options; `stdinTaken` when the subcommand reads standard input itself. */
export async function connectOptions(o: AdminGroupOptions, stdinTaken = false): Promise<AdminConnectOptions> {
  if (o.passwordStdin && stdinTaken) throw new Error('standard input can carry one password: give the admin a --token (or HGD_ADMIN_TOKEN) instead');
  if (o.passwordStdin && o.username === undefined) throw new Error('--password-stdin of hgd admin is the password of --username');
  return {
    ...(o.url !== undefined ? { url: o.url } : {}),
    ...(o.token !== undefined ? { token: o.token } : {}),
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.passwordStdin ? { password: await readStdin() } : {}),
  };
}

/** Runs `fn` against the gateway or the database, and says on stderr when it was the database. */
function run<T>(config: Config, conn: AdminConnectOptions, fn: (c: AdminClient) => Promise<T>): Promise<T> {
  return withAdminClient(config, conn, async (c) => {
    if (c.via === 'database') console.error(`hgd: no gateway answers at ${config.client.url}; writing to the database directly`);
    return fn(c);
  });
}

export async function adminOrgCreate(config: Config, conn: AdminConnectOptions, id: string): Promise<string> {
  await run(config, conn, (c) => c.createOrganisation({ id }));
  return `organisation ${id} created`;
}

export async function adminOrgList(config: Config, conn: AdminConnectOptions): Promise<string> {
  const { organisations } = await run(config, conn, (c) => c.listOrganisations());
  return organisations.map((o) => `${o.id}\t${o.createdAt}`).join('\n');
}

export interface AdminUserOptions {
  role: string;
  username: string;
  org?: string;
  patientIdentifier?: string;
  passwordStdin?: boolean;
}

/** Creates a user; returns the lines to print (the generated password, once, when none was given). */
export async function adminUserCreate(config: Config, conn: AdminConnectOptions, o: AdminUserOptions): Promise<{ out: string; info: string }> {
  const password = o.passwordStdin ? await readStdin() : undefined;
  const body = {
    role: o.role, username: o.username, ...(o.org ? { org: o.org } : {}), ...(o.patientIdentifier !== undefined ? { patientIdentifier: o.patientIdentifier } : {}), ...(password !== undefined ? { password } : {}),
  };
  const user = await run(config, conn, (c) => c.createUser(body));
  const info = `user ${user.username} created (role ${user.role}${user.org ? `, org ${user.org}` : ''}${user.role === 'patient' ? ', subject = pseudonym of the identifier' : ''})`;
  return user.password ? { out: user.password, info: `${info}; the password above is shown only once` } : { out: info, info: '' };
}

export async function adminUserList(config: Config, conn: AdminConnectOptions): Promise<string> {
  const { users } = await run(config, conn, (c) => c.listUsers());
  return users.map((u) => [u.username, u.role, u.org ?? '-', u.createdAt].join('\t')).join('\n');
}

export async function adminKeyCreate(config: Config, conn: AdminConnectOptions, org: string): Promise<{ out: string; info: string }> {
  const k = await run(config, conn, (c) => c.createApiKey({ org }));
  return { out: k.key, info: `API key ${k.keyId} for organisation ${k.org}; the key above is shown only once (only its hash is stored)` };
}

export async function adminKeyList(config: Config, conn: AdminConnectOptions, org?: string): Promise<string> {
  const { keys } = await run(config, conn, (c) => c.listApiKeys(org));
  return keys.map((k) => [k.keyId, k.org, k.createdAt, k.revokedAt ? `revoked ${k.revokedAt}` : 'active'].join('\t')).join('\n');
}

export async function adminKeyRevoke(config: Config, conn: AdminConnectOptions, keyId: string): Promise<string> {
  await run(config, conn, (c) => c.revokeApiKey(keyId));
  return `API key ${keyId} revoked`;
}

export interface AdminStudyOptions {
  title: string;
  purpose: string;
  minCohort?: string;
  epsilonBudget?: string;
}

function numberOption(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

export async function adminStudyCreate(config: Config, conn: AdminConnectOptions, id: string, o: AdminStudyOptions): Promise<string> {
  const minCohort = numberOption(o.minCohort, '--min-cohort');
  const epsilonBudget = numberOption(o.epsilonBudget, '--epsilon-budget');
  const body = { id, title: o.title, purpose: o.purpose, ...(minCohort !== undefined ? { minCohort } : {}), ...(epsilonBudget !== undefined ? { epsilonBudget } : {}) };
  const study = await run(config, conn, (c) => c.createStudy(body));
  return `study ${study.id} created (purpose ${study.purpose.code}, min cohort ${study.minCohort}, epsilon budget ${study.epsilonBudget})`;
}

export async function adminStudyList(config: Config, conn: AdminConnectOptions): Promise<string> {
  const { studies } = await run(config, conn, (c) => c.listStudies());
  const line = (s: (typeof studies)[number]) => [s.id, s.title, s.purpose.code, `min cohort ${s.minCohort}`, `epsilon ${s.epsilonRemaining} of ${s.epsilonBudget} left`, `researchers: ${s.researchers.join(', ') || '-'}`].join('\t');
  return studies.map(line).join('\n');
}

/** Adds the researcher user `username` to the study. */
export async function adminStudyAddResearcher(config: Config, conn: AdminConnectOptions, studyId: string, username: string): Promise<string> {
  await run(config, conn, (c) => c.addResearcher(studyId, { username }));
  return `researcher ${username} added to study ${studyId}`;
}
