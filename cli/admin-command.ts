/**
 * `hgd admin org|user|key|study ...`: the identity store and studies, on the configured database.
 * `hgd admin token`: prints a JWT signed with the gateway's key (config.auth.tokenKeyFile), for
 * scripts and for `hgd ingest`. For a patient named by a provider's identifier, the subject is the
 * pseudonym the gateway derives from it, so the token reads exactly that patient's records.
 */
import type { Config } from '../config';
import { TokenService } from '../app/auth';
import { openAdminServices, type AdminServices } from '../app/admin';
import { generatePassword } from '../app/identity';
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

// --- hgd admin org / user / key / study: the identity store and studies, on the configured database ---

/** The administrator the CLI acts as (ledger actor `admin:cli`). */
const CLI_ADMIN: Identity = { role: 'admin', sub: 'cli' };

/**
 * Opens the configured database (migrating it) like `hgd migrate`, runs `fn`, closes. The admin
 * composition runs no queries and never recovers a live gateway's (app/admin.ts).
 */
export async function withAdminServices<T>(config: Config, fn: (s: AdminServices) => Promise<T>): Promise<T> {
  const services = await openAdminServices(config);
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function adminOrgCreate(config: Config, id: string): Promise<string> {
  await withAdminServices(config, (a) => a.identity.createOrganisation(CLI_ADMIN, id));
  return `organisation ${id} created`;
}

export interface AdminUserOptions {
  role: string;
  username: string;
  org?: string;
  patientIdentifier?: string;
  passwordStdin?: boolean;
}

/** Creates a user; returns the lines to print (the generated password, once, when none was given). */
export async function adminUserCreate(config: Config, o: AdminUserOptions): Promise<{ out: string; info: string }> {
  const generated = !o.passwordStdin;
  const password = o.passwordStdin ? await readStdin() : generatePassword();
  const user = await withAdminServices(config, (a) => a.identity.createUser(CLI_ADMIN, {
    username: o.username, role: o.role, password, ...(o.org ? { org: o.org } : {}), ...(o.patientIdentifier !== undefined ? { patientIdentifier: o.patientIdentifier } : {}),
  }));
  const info = `user ${user.username} created (role ${user.role}${user.org ? `, org ${user.org}` : ''}${user.role === 'patient' ? ', subject = pseudonym of the identifier' : ''})`;
  return generated ? { out: password, info: `${info}; the password above is shown only once` } : { out: info, info: '' };
}

export async function adminKeyCreate(config: Config, org: string): Promise<{ out: string; info: string }> {
  const k = await withAdminServices(config, (a) => a.identity.createApiKey(CLI_ADMIN, org));
  return { out: k.key, info: `API key ${k.keyId} for organisation ${k.org}; the key above is shown only once (only its hash is stored)` };
}

export async function adminKeyRevoke(config: Config, keyId: string): Promise<string> {
  const r = await withAdminServices(config, (a) => a.identity.revokeApiKey(CLI_ADMIN, keyId));
  return `API key ${r.keyId} (organisation ${r.org}) revoked`;
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

export async function adminStudyCreate(config: Config, id: string, o: AdminStudyOptions): Promise<string> {
  const minCohort = numberOption(o.minCohort, '--min-cohort');
  const epsilonBudget = numberOption(o.epsilonBudget, '--epsilon-budget');
  const study = await withAdminServices(config, (a) => a.studies.register(CLI_ADMIN, {
    id, title: o.title, purpose: o.purpose, ...(minCohort !== undefined ? { minCohort } : {}), ...(epsilonBudget !== undefined ? { epsilonBudget } : {}),
  }));
  return `study ${study.id} created (purpose ${study.purpose.code}, min cohort ${study.minCohort}, epsilon budget ${study.epsilonBudget})`;
}

/** Adds the researcher user `username` (their subject) to the study. */
export async function adminStudyAddResearcher(config: Config, studyId: string, username: string): Promise<string> {
  return withAdminServices(config, async (a) => {
    const user = await a.identity.findUser(username);
    if (!user) throw new Error(`no user "${username}" (create it with hgd admin user create --role researcher)`);
    if (user.role !== 'researcher') throw new Error(`user "${username}" has role ${user.role}, not researcher`);
    await a.studies.addResearcher(CLI_ADMIN, studyId, { researcher: user.sub });
    return `researcher ${username} added to study ${studyId}`;
  });
}
