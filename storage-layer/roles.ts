/**
 * The application role's privileges on real PostgreSQL, granted after every migration run by the
 * owner that ran them (so tables added later are covered): SELECT, INSERT, UPDATE, DELETE on every
 * table of the schema except the ledger's (APP_ROLE_TABLE_PRIVILEGES), USAGE on its sequences, and
 * EXECUTE on the append function. The role owns nothing, so it can neither disable a trigger nor
 * truncate; without superuser it cannot set session_replication_role. Nothing happens while the
 * role does not exist (docs/storage.md says how an administrator creates it).
 */
import { APP_ROLE, APP_ROLE_TABLE_PRIVILEGES, APPEND_FUNCTION } from './ledger-schema';

export function appRoleGrants(): string {
  const restricted = Object.entries(APP_ROLE_TABLE_PRIVILEGES)
    .map(([table, privileges]) => `WHEN '${table}' THEN '${privileges}'`)
    .join(' ');
  return `DO $$
DECLARE
  s text := current_schema();
  t record;
  privileges text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN RETURN; END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${APP_ROLE}', s);
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = s AND c.relkind IN ('r', 'p') LOOP
    privileges := CASE t.relname ${restricted} ELSE NULL END;
    IF privileges IS NULL THEN
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO ${APP_ROLE}', s, t.relname);
    ELSE
      EXECUTE format('REVOKE ALL ON %I.%I FROM ${APP_ROLE}', s, t.relname);
      EXECUTE format('GRANT %s ON %I.%I TO ${APP_ROLE}', privileges, s, t.relname);
    END IF;
  END LOOP;
  EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO ${APP_ROLE}', s);
  IF to_regprocedure(format('%I.${APPEND_FUNCTION}', s)) IS NOT NULL THEN
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.${APPEND_FUNCTION} TO ${APP_ROLE}', s);
  END IF;
END $$`;
}
