-- As horizon_log.sql, for one category.
SELECT (SELECT max(sequence_number) FROM {events} WHERE category = $1) AS committed,
       (SELECT max(sequence_number) FROM {events}
         WHERE category = $1
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())) AS settled
