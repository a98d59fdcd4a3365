-- Installs pg_trgm, for sorting by similarity, where the role may.
CREATE EXTENSION IF NOT EXISTS pg_trgm
