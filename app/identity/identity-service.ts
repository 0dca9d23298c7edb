/**
 * The identity store: organisations, users with scrypt password hashes, and providers' API keys
 * stored as keyid + SHA-256 of the secret. Administrative changes are ledger entries (kind
 * `admin`); no secret, hash or patient pseudonym is written to the ledger.
 */
import type { Database } from '../../storage-layer/db';
import type { Ledger } from '../../storage-layer/ledger';
import { HgdError, NotFoundError, ValidationError } from '../../storage-layer/errors';
import { UnauthenticatedError, type Identity, type Role } from '../../storage-layer/http-identity';
import { dummyHash, hashPassword, verifyPassword } from './passwords';
import { generateApiKey, parseApiKey, secretMatches } from './api-keys';
import { PG_UNIQUE_VIOLATION, pgErrorCode } from '../../storage-layer/pg-errors';

export const USER_ROLES: readonly Role[] = ['admin', 'provider', 'patient', 'researcher', 'auditor'];
const ORG_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
export const MIN_PASSWORD_LENGTH = 10;
/** The one message for every failed login: it does not tell an unknown user from a wrong password. */
export const LOGIN_FAILED = 'invalid username or password';

export class IdentityConflictError extends HgdError {
  constructor(message: string, field?: string) {
    super(message, 'conflict', { field });
  }
}

/**
 * The checks above an insert run inside its transaction but cannot see a concurrent one's row: the
 * primary key decides, and its violation is the same 409 as the check's.
 */
async function conflictOnDuplicate<T>(insert: PromiseLike<T>, conflict: () => IdentityConflictError): Promise<T> {
  try {
    return await insert;
  } catch (err) {
    throw pgErrorCode(err) === PG_UNIQUE_VIOLATION ? conflict() : err;
  }
}

/** 404 naming the field: a body referred to an organisation that does not exist. */
function unknownOrganisation(org: string): HgdError {
  return new HgdError(`no organisation "${org}" (create it first)`, 'not_found', { field: 'org' });
}

export interface NewUser {
  username: string;
  role: string;
  password: string;
  org?: string;
  /** 'system|value' (role patient): the user's subject becomes the pseudonym of this identifier. */
  patientIdentifier?: string;
}

export interface UserInfo {
  username: string;
  role: Role;
  sub: string;
  org?: string;
}

export interface OrganisationInfo {
  id: string;
  createdAt: string;
}

export interface UserListing {
  username: string;
  role: Role;
  org?: string;
  createdAt: string;
}

export interface ApiKeyInfo {
  keyId: string;
  org: string;
  createdAt: string;
  revokedAt?: string;
}

const iso = (d: Date | string) => new Date(d).toISOString();

interface UserRow {
  username: string;
  role: Role;
  sub: string;
  org: string | null;
  password_hash: string;
  disabled_at: Date | null;
}

export function parsePatientIdentifier(raw: string): { system: string; value: string } {
  const bar = raw.indexOf('|');
  const system = bar < 0 ? '' : raw.slice(0, bar).trim();
  const value = bar < 0 ? '' : raw.slice(bar + 1).trim();
  if (!system || !value) throw new ValidationError(`the patient identifier must be "system|value", got "${raw}"`, 'patientIdentifier');
  return { system, value };
}

export class IdentityService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly pseudonymOf: (system: string, value: string) => string,
  ) {}

  async createOrganisation(admin: Identity, id: string): Promise<{ id: string }> {
    if (!ORG_ID.test(id)) throw new ValidationError('an organisation id is 1 to 64 characters [A-Za-z0-9._-], starting with a letter or digit', 'org');
    return this.db.knex.transaction(async (trx) => {
      if (await trx('organisations').where({ id }).first('id')) throw new IdentityConflictError(`organisation "${id}" already exists`, 'org');
      await this.ledger.appendWithin(trx, [{ kind: 'admin', actor: `admin:${admin.sub}`, payload: { action: 'organisation-created', org: id } }]);
      await conflictOnDuplicate(trx('organisations').insert({ id }), () => new IdentityConflictError(`organisation "${id}" already exists`, 'org'));
      return { id };
    });
  }

  async createUser(admin: Identity, u: NewUser): Promise<UserInfo> {
    const role = u.role as Role;
    if (!USER_ROLES.includes(role)) throw new ValidationError(`the role must be one of ${USER_ROLES.join(', ')}, got "${u.role}"`, 'role');
    if (!USERNAME.test(u.username)) throw new ValidationError('a username is 1 to 128 characters [A-Za-z0-9._@-], starting with a letter or digit', 'username');
    if (u.password.length < MIN_PASSWORD_LENGTH) throw new ValidationError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`, 'password');
    if ((u.patientIdentifier !== undefined) !== (role === 'patient')) throw new ValidationError('a patient user needs a patient identifier "system|value", and only a patient user has one', 'patientIdentifier');
    if (role === 'provider' && !u.org) throw new ValidationError('a provider user needs an organisation', 'org');
    let sub = u.username;
    if (u.patientIdentifier !== undefined) {
      const { system, value } = parsePatientIdentifier(u.patientIdentifier);
      sub = this.pseudonymOf(system, value);
    }
    const passwordHash = await hashPassword(u.password);
    return this.db.knex.transaction(async (trx) => {
      if (u.org && !(await trx('organisations').where({ id: u.org }).first('id'))) throw unknownOrganisation(u.org);
      if (await trx('users').where({ username: u.username }).first('username')) throw new IdentityConflictError(`user "${u.username}" already exists`, 'username');
      if (role === 'patient' && (await trx('users').where({ role, sub }).first('username'))) throw new IdentityConflictError('this patient already has a user', 'patientIdentifier');
      // Patients' usernames stay off the (readable) ledger: they would link a person to activity.
      const payload = { action: 'user-created', role, ...(role === 'patient' ? {} : { username: u.username }), ...(u.org ? { org: u.org } : {}) };
      await this.ledger.appendWithin(trx, [{ kind: 'admin', actor: `admin:${admin.sub}`, payload }]);
      const row = { username: u.username, role, sub, org: u.org ?? null, password_hash: passwordHash };
      await conflictOnDuplicate(trx('users').insert(row), () => new IdentityConflictError(`user "${u.username}" already exists`, 'username'));
      return { username: u.username, role, sub, ...(u.org ? { org: u.org } : {}) };
    });
  }

  async listOrganisations(): Promise<OrganisationInfo[]> {
    const rows = (await this.db.knex('organisations').orderBy('id').select('id', 'created_at')) as Array<{ id: string; created_at: Date }>;
    return rows.map((r) => ({ id: r.id, createdAt: iso(r.created_at) }));
  }

  /** Every user without secrets or subjects (a patient's subject is their pseudonym). */
  async listUsers(): Promise<UserListing[]> {
    const rows = (await this.db.knex('users').orderBy('username').select('username', 'role', 'org', 'created_at')) as Array<Pick<UserRow, 'username' | 'role' | 'org'> & { created_at: Date }>;
    return rows.map((r) => ({ username: r.username, role: r.role, ...(r.org ? { org: r.org } : {}), createdAt: iso(r.created_at) }));
  }

  /** Researcher users' subjects (what study membership records) with their usernames. */
  async listResearcherSubjects(): Promise<Array<{ username: string; sub: string }>> {
    return (await this.db.knex('users').where({ role: 'researcher' }).select('username', 'sub')) as Array<{ username: string; sub: string }>;
  }

  /** Whether any user has role admin (the gateway's first start creates one when none has). */
  async hasAdmin(): Promise<boolean> {
    return Boolean(await this.db.knex('users').where({ role: 'admin' }).first('username'));
  }

  /** API keys (ids and dates only; the secret is never stored), of one organisation when given. */
  async listApiKeys(org?: string): Promise<ApiKeyInfo[]> {
    const q = this.db.knex('api_keys').orderBy([{ column: 'org' }, { column: 'created_at' }, { column: 'key_id' }]).select('key_id', 'org', 'created_at', 'revoked_at');
    if (org !== undefined) q.where({ org });
    const rows = (await q) as Array<{ key_id: string; org: string; created_at: Date; revoked_at: Date | null }>;
    return rows.map((r) => ({ keyId: r.key_id, org: r.org, createdAt: iso(r.created_at), ...(r.revoked_at ? { revokedAt: iso(r.revoked_at) } : {}) }));
  }

  async findUser(username: string): Promise<UserInfo | undefined> {
    const row = (await this.db.knex('users').where({ username }).first()) as UserRow | undefined;
    return row ? { username: row.username, role: row.role, sub: row.sub, ...(row.org ? { org: row.org } : {}) } : undefined;
  }

  /** The identity of a user whose password matches; otherwise 401 with one message for every cause. */
  async login(username: unknown, password: unknown): Promise<Identity> {
    if (typeof username !== 'string' || username === '' || username.length > 128) throw new ValidationError('"username" is required', 'username');
    if (typeof password !== 'string' || password === '' || password.length > 1024) throw new ValidationError('"password" is required', 'password');
    const row = (await this.db.knex('users').where({ username }).first()) as UserRow | undefined;
    const ok = await verifyPassword(password, row ? row.password_hash : await dummyHash());
    if (!row || !ok || row.disabled_at) throw new UnauthenticatedError(LOGIN_FAILED);
    return { role: row.role, sub: row.sub, ...(row.org ? { org: row.org } : {}) };
  }

  async createApiKey(admin: Identity, org: string): Promise<{ keyId: string; key: string; org: string }> {
    const k = generateApiKey();
    return this.db.knex.transaction(async (trx) => {
      if (!(await trx('organisations').where({ id: org }).first('id'))) throw unknownOrganisation(org);
      await this.ledger.appendWithin(trx, [{ kind: 'admin', actor: `admin:${admin.sub}`, payload: { action: 'api-key-created', keyId: k.keyId, org } }]);
      await trx('api_keys').insert({ key_id: k.keyId, org, secret_sha256: k.secretSha256 });
      return { keyId: k.keyId, key: k.key, org };
    });
  }

  async revokeApiKey(admin: Identity, keyId: string): Promise<{ keyId: string; org: string }> {
    return this.db.knex.transaction(async (trx) => {
      const row = (await trx('api_keys').where({ key_id: keyId }).first()) as { org: string; revoked_at: Date | null } | undefined;
      if (!row) throw new NotFoundError(`no API key "${keyId}"`);
      if (row.revoked_at) throw new IdentityConflictError(`API key "${keyId}" is already revoked`, 'keyId');
      await this.ledger.appendWithin(trx, [{ kind: 'admin', actor: `admin:${admin.sub}`, payload: { action: 'api-key-revoked', keyId, org: row.org } }]);
      await trx('api_keys').where({ key_id: keyId }).update({ revoked_at: trx.fn.now() });
      return { keyId, org: row.org };
    });
  }

  /** The provider identity of a valid, unrevoked key; 401 otherwise. */
  async authenticateApiKey(key: string): Promise<Identity> {
    const invalid = () => new UnauthenticatedError('the API key is invalid or revoked');
    const parsed = parseApiKey(key);
    if (!parsed) throw invalid();
    const row = (await this.db.knex('api_keys').where({ key_id: parsed.keyId }).first()) as { org: string; secret_sha256: string; revoked_at: Date | null } | undefined;
    if (!row || !secretMatches(parsed.secret, row.secret_sha256) || row.revoked_at) throw invalid();
    return { role: 'provider', sub: parsed.keyId, org: row.org };
  }
}
