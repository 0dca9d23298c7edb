/**
 * The first administrator. On a start with no user of role admin, the gateway creates user `admin`:
 * with the password of HGD_ADMIN_PASSWORD when set, otherwise with a generated one written once to
 * `<dataDir>/admin-password` (mode 0600, never overwritten; a file already there is used as it is).
 * The log says where the password is, never the password. With an admin already present it does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import type { Identity } from '../storage-layer/http-identity';
import { IdentityConflictError, MIN_PASSWORD_LENGTH, generatePassword, type IdentityService } from './identity';
import type { Logger } from './logger';

export const BOOTSTRAP_USERNAME = 'admin';
/** The ledger actor of the bootstrap's `user-created` entry: `admin:bootstrap`. */
const BOOTSTRAP_ACTOR: Identity = { role: 'admin', sub: 'bootstrap' };

export type BootstrapOutcome = 'admin-exists' | 'created-from-environment' | 'created-from-file' | 'username-taken';

export async function bootstrapAdmin(identity: IdentityService, auth: Config['auth'], log: Logger): Promise<BootstrapOutcome> {
  if (await identity.hasAdmin()) return 'admin-exists';
  if (auth.adminPassword !== undefined && auth.adminPassword.length < MIN_PASSWORD_LENGTH) throw new Error(`HGD_ADMIN_PASSWORD must have at least ${MIN_PASSWORD_LENGTH} characters`);
  const password = auth.adminPassword ?? passwordFromFile(auth.adminPasswordFile);
  try {
    await identity.createUser(BOOTSTRAP_ACTOR, { username: BOOTSTRAP_USERNAME, role: 'admin', password });
  } catch (err) {
    if (!(err instanceof IdentityConflictError)) throw err;
    // Another gateway on the same database created it a moment ago, or a non-admin user has the name.
    log.warn(`no admin was created: user "${BOOTSTRAP_USERNAME}" already exists`);
    return 'username-taken';
  }
  if (auth.adminPassword) {
    log.info(`created user "${BOOTSTRAP_USERNAME}" (role admin) with the password of HGD_ADMIN_PASSWORD`);
    return 'created-from-environment';
  }
  log.info(`created user "${BOOTSTRAP_USERNAME}" (role admin); its password is in ${auth.adminPasswordFile} (mode 0600). Sign in with POST /auth/login`);
  return 'created-from-file';
}

/**
 * The password in `file`, generating it first when the file does not exist. The file is created
 * exclusively ('wx'), so two gateways sharing a data folder agree on one password.
 */
function passwordFromFile(file: string): string {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      fs.writeFileSync(file, `${generatePassword()}\n`, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const password = fs.readFileSync(file, 'utf8').trim();
  if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`${file} must hold a password of at least ${MIN_PASSWORD_LENGTH} characters (or remove the file to have one generated)`);
  return password;
}
