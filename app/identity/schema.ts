/**
 * Tables of the identity store: organisations, users (password hashes only) and providers' API keys
 * (the SHA-256 of the secret only; the key itself is shown once, when it is created).
 */
import type { Migration } from '../../storage-layer/migrate';

export const identityMigrations: Migration[] = [
  {
    id: 'identity-001-orgs-users-keys',
    statements: [
      `CREATE TABLE organisations (
        id text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE users (
        username text PRIMARY KEY,
        role text NOT NULL CHECK (role IN ('admin', 'provider', 'patient', 'researcher', 'auditor')),
        sub text NOT NULL,
        org text REFERENCES organisations(id),
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        disabled_at timestamptz
      )`,
      `CREATE TABLE api_keys (
        key_id text PRIMARY KEY,
        org text NOT NULL REFERENCES organisations(id),
        secret_sha256 text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`,
    ],
  },
];
