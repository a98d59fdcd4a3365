-- The newest committed event, and the newest one no running transaction can
-- still precede (see the allocation function in the migrations).
SELECT (SELECT max(sequence_number) FROM {events}) AS committed,
       (SELECT max(sequence_number) FROM {events}
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())) AS settled
