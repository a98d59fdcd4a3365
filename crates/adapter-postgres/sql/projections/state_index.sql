-- Serves equality filters on state paths (they add a containment test).
CREATE INDEX IF NOT EXISTS {projections_state_index} ON {projections} USING gin (state jsonb_path_ops)
