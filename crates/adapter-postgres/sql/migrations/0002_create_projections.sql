-- Projections: one row per projector name and projection id.
CREATE TABLE IF NOT EXISTS {projections} (
    name     text  NOT NULL,
    id       text  NOT NULL,
    source   jsonb NOT NULL,
    state    jsonb NOT NULL,
    metadata jsonb NOT NULL,
    CONSTRAINT {projections_key} PRIMARY KEY (name, id)
);

-- Locating a projector's projection of a source.
CREATE INDEX IF NOT EXISTS {projections_source_index} ON {projections} (name, source);
