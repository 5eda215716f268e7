-- PostgreSQL roles for a shared registry: run as the database owner after
-- `registry db upgrade` (and again after each upgrade that adds a table).
--
--   psql -v server_password="'...'" -v analyst_password="'...'" -d registry -f deploy/roles.sql
--
-- registry_server: the one writer, used only by `registry serve`. It may read and append,
-- never drop or alter: migrations run as the owner (`registry db upgrade`).
-- registry_analyst: read-only, for auditors and analysts querying the tables directly.
-- Only the server may read token hashes and webhook signing secrets.

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
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO registry_server;  -- ids of evals, cards, ...
REVOKE UPDATE, DELETE, TRUNCATE ON ledger FROM registry_server;
REVOKE UPDATE, DELETE, TRUNCATE ON merkle_nodes FROM registry_server;  -- append-only too
GRANT UPDATE ON ledger_head TO registry_server;
GRANT DELETE ON entries TO registry_server;  -- a reviewed catalog may drop an unused entry
GRANT DELETE ON leases TO registry_server;  -- a dispatcher gives its lease up on a clean stop
GRANT DELETE ON web_sessions TO registry_server;  -- expired web sessions are forgotten

-- Analysts read every table but the token hashes and web sessions; of webhooks, all but
-- the secret.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO registry_analyst;
REVOKE SELECT ON tokens FROM registry_analyst;
REVOKE SELECT ON webhooks FROM registry_analyst;
REVOKE SELECT ON web_sessions FROM registry_analyst;  -- who logged in when is not theirs
GRANT SELECT (id, url, events, entry, workload, created_at, created_by, status, delivered_seq,
              failures, failing_since, next_attempt_at, changed_at, changed_by)
  ON webhooks TO registry_analyst;
