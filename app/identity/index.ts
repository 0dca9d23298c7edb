/** Organisations, users (password login) and providers' API keys. */
export { identityMigrations } from './schema';
export { IdentityService, IdentityConflictError, LOGIN_FAILED, MIN_PASSWORD_LENGTH, USER_ROLES, parsePatientIdentifier, type NewUser, type UserInfo } from './identity-service';
export { identityRouter } from './http';
export { generatePassword } from './passwords';
