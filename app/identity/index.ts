/** Organisations, users (password login) and providers' API keys. */
export { identityMigrations } from './schema';
export { IdentityService, IdentityConflictError, LOGIN_FAILED, USER_ROLES, parsePatientIdentifier, type NewUser, type UserInfo } from './identity-service';
export { identityRouter } from './http';
export { generatePassword } from './passwords';
