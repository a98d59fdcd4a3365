-- One projection per projector name and source: a projection's id may change
-- as its state does, and a save replaces the projection of its source
-- whatever its old id. Sources split into several rows by earlier releases
-- keep the row that applied the most events (by the `last_sequence_number`
-- of its metadata, then by id).
DELETE FROM {projections} AS older
 USING {projections} AS newer
 WHERE older.name = newer.name
   AND older.source = newer.source
   AND (COALESCE(older.metadata -> 'last_sequence_number', 'null'::jsonb), older.id)
     < (COALESCE(newer.metadata -> 'last_sequence_number', 'null'::jsonb), newer.id);

DROP INDEX IF EXISTS {schema}.{projections_source_index};
CREATE UNIQUE INDEX {projections_source_index} ON {projections} (name, source);
