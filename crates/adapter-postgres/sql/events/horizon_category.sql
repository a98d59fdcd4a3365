-- As horizon_log.sql, the first two for one category.
SELECT (SELECT max(sequence_number) FROM {events} WHERE category = $1) AS committed,
       (SELECT max(sequence_number) FROM {events}
         WHERE category = $1
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())) AS settled,
       {sequence_base}()
         + (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16) AS frontier,
       {sequence_base}()
         + (pg_snapshot_xmax(pg_current_snapshot())::text::bigint << 16) AS numbered_below
