/**
 * The administrator's operations, in the shapes of the HTTP contract (docs/operations.md,
 * "Administration over HTTP"): organisations, users, providers' API keys, studies and their
 * researchers. The routes (admin-routes.ts) and `hgd admin …` on the database (cli/admin-command.ts,
 * when no gateway runs) both call these, so a change is validated by the same JSON Schema and recorded
 * on the ledger the same way whichever way it came in.
 */
import type { Identity } from '../storage-layer/http-identity';
import { ValidationError } from '../storage-layer/errors';
import { checkBody } from '../usage-layer/body-schema';
import type { Study, StudyService } from '../usage-layer/consent/studies';
import type { PurposeCoding } from '../usage-layer/consent/purpose';
import { generatePassword, type IdentityService } from './identity';
import type { ApiKeyInfo, OrganisationInfo, UserListing } from './identity/identity-service';

/** The purpose of a study created without one. */
export const DEFAULT_STUDY_PURPOSE = 'HRESCH';

export interface StudyListing {
  id: string;
  title: string;
  purpose: PurposeCoding;
  minCohort: number;
  epsilonBudget: number;
  epsilonRemaining: number;
  /** Usernames of the members (a member without a user, added by subject, is shown by subject). */
  researchers: string[];
}

export interface CreatedUser {
  username: string;
  role: string;
  org?: string;
  /** Only when none was given: the generated password, shown this once. */
  password?: string;
}

interface NewUserBody {
  role: string;
  username: string;
  org?: string;
  patientIdentifier?: string;
  password?: string;
}

export class AdminOperations {
  constructor(
    private readonly identity: IdentityService,
    private readonly studies: StudyService,
  ) {}

  async listOrganisations(): Promise<{ organisations: OrganisationInfo[] }> {
    return { organisations: await this.identity.listOrganisations() };
  }

  async createOrganisation(admin: Identity, raw: unknown): Promise<{ id: string }> {
    const b = checkBody<{ id: string }>('admin-organisation', raw);
    return this.identity.createOrganisation(admin, b.id);
  }

  async listUsers(): Promise<{ users: UserListing[] }> {
    return { users: await this.identity.listUsers() };
  }

  async createUser(admin: Identity, raw: unknown): Promise<CreatedUser> {
    const b = checkBody<NewUserBody>('admin-user', raw);
    const password = b.password ?? generatePassword();
    const user = await this.identity.createUser(admin, { ...b, password });
    return { username: user.username, role: user.role, ...(user.org ? { org: user.org } : {}), ...(b.password === undefined ? { password } : {}) };
  }

  async listApiKeys(org: unknown): Promise<{ keys: ApiKeyInfo[] }> {
    if (org !== undefined && typeof org !== 'string') throw new ValidationError('"org" must be given once, as an organisation id', 'org');
    return { keys: await this.identity.listApiKeys(org === '' ? undefined : org) };
  }

  async createApiKey(admin: Identity, raw: unknown): Promise<{ keyId: string; key: string; org: string }> {
    const b = checkBody<{ org: string }>('admin-api-key', raw);
    return this.identity.createApiKey(admin, b.org);
  }

  async revokeApiKey(admin: Identity, keyId: string): Promise<{ keyId: string; org: string }> {
    return this.identity.revokeApiKey(admin, keyId);
  }

  async listStudies(): Promise<{ studies: StudyListing[] }> {
    const usernames = await this.usernamesBySubject();
    const studies = await this.studies.list();
    return { studies: await Promise.all(studies.map(async (s) => this.studyListing(s, usernames))) };
  }

  /** Registers a study; without a purpose it is DEFAULT_STUDY_PURPOSE (as `hgd admin study create`). */
  async createStudy(admin: Identity, raw: unknown): Promise<Study> {
    const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
    return this.studies.register(admin, isObject ? { purpose: DEFAULT_STUDY_PURPOSE, ...raw } : raw);
  }

  /**
   * Adds a member: `{username}` names a user with role researcher (the contract); `{researcher}`
   * names a subject directly (the older form, kept for tokens whose subject has no user).
   */
  async addResearcher(admin: Identity, studyId: string, raw: unknown): Promise<{ study: string; username?: string; researcher: string; ledgerSeq: number }> {
    if (raw === null || typeof raw !== 'object' || !('username' in raw)) return this.studies.addResearcher(admin, studyId, raw);
    const { username } = checkBody<{ username: string }>('admin-study-researcher', raw);
    const user = await this.identity.findUser(username);
    if (!user) throw new ValidationError(`no user "${username}" (create it with role researcher first)`, 'username');
    if (user.role !== 'researcher') throw new ValidationError(`user "${username}" has role ${user.role}, not researcher`, 'username');
    const added = await this.studies.addResearcher(admin, studyId, { researcher: user.sub });
    return { ...added, username };
  }

  async removeResearcher(admin: Identity, studyId: string, researcher: string) {
    return this.studies.removeResearcher(admin, studyId, researcher);
  }

  private async studyListing(s: Study, usernames: Map<string, string>): Promise<StudyListing> {
    const members = await this.studies.researchers(s.id);
    return {
      id: s.id, title: s.title, purpose: s.purpose, minCohort: s.minCohort, epsilonBudget: s.epsilonBudget, epsilonRemaining: s.epsilonRemaining,
      researchers: members.map((sub) => usernames.get(sub) ?? sub),
    };
  }

  /** Researcher users by subject (a researcher's subject is their username, but say so once here). */
  private async usernamesBySubject(): Promise<Map<string, string>> {
    const users = await this.identity.listResearcherSubjects();
    return new Map(users.map((u) => [u.sub, u.username]));
  }
}
