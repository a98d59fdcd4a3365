-- The schema, and the record of the migrations applied to it. The schema is
-- created only when missing: CREATE SCHEMA checks the privilege to create
-- schemas in the database even when the schema exists, and a role that owns
-- the schema it migrates need not have it.
DO $setup$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = {schema_literal}) THEN
        CREATE SCHEMA {schema};
    END IF;
END
$setup$;
CREATE TABLE IF NOT EXISTS {migrations} (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
