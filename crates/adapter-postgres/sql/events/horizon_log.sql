-- The newest committed event; the newest one no running transaction can
-- still precede (see the allocation function in the migrations); the
-- snapshot's frontier, below which every event is settled and visible; and
-- the number below which every event this server knows of lies (no
-- transaction it has seen finish has an id at or above the snapshot's xmax).
SELECT (SELECT max(sequence_number) FROM {events}) AS committed,
       (SELECT max(sequence_number) FROM {events}
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())) AS settled,
       {sequence_base}()
         + (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16) AS frontier,
       {sequence_base}()
         + (pg_snapshot_xmax(pg_current_snapshot())::text::bigint << 16) AS numbered_below
