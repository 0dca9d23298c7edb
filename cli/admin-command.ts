/**
 * `hgd admin token`: prints a JWT signed with the gateway's key (config.auth.tokenKeyFile), for
 * scripts and for `hgd ingest`. For a patient named by a provider's identifier, the subject is the
 * pseudonym the gateway derives from it, so the token reads exactly that patient's records.
 */
import type { Config } from '../config';
import { TokenService } from '../app/auth';
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
