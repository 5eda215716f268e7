-- PostgreSQL roles for a shared registry: run as the database owner after
-- `registry db upgrade` (and again after each upgrade that adds a table).
--
--   psql -v server_password="'...'" -v analyst_password="'...'" -d registry -f deploy/roles.sql
--
-- registry_server: the one writer, used only by `registry serve`. It may read and append,
-- never drop or alter: migrations run as the owner (`registry db upgrade`).
-- registry_analyst: read-only, for auditors and analysts querying the tables directly.
-- Neither may read token hashes except the server.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'registry_server') THEN
    CREATE ROLE registry_server LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'registry_analyst') THEN
    CREATE ROLE registry_analyst LOGIN;
  END IF;
END
$$;

ALTER ROLE registry_server PASSWORD :server_password;
ALTER ROLE registry_analyst PASSWORD :analyst_password;

DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO registry_server, registry_analyst',
                 current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO registry_server, registry_analyst;

-- The server reads everything and writes rows; the ledger is append-only for it.
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO registry_server;
REVOKE UPDATE, DELETE, TRUNCATE ON ledger FROM registry_server;
GRANT UPDATE ON ledger_head TO registry_server;
GRANT DELETE ON entries TO registry_server;  -- a reviewed catalog may drop an unused entry

-- Analysts read every table but the token hashes.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO registry_analyst;
REVOKE SELECT ON tokens FROM registry_analyst;
