-- (An expression.) The frontier of a query read, in sequence numbers: every
-- event of a transaction older than the statement snapshot's xmin lies below
-- it, every later one at or above it (sequence numbers are
-- `base + transaction id * 65536 + n`).
({sequence_base}()
 + (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16))
