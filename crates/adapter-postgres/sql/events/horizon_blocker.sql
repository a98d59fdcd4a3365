-- The transaction holding the read horizon back: the oldest one still
-- running with a transaction id (its id is the snapshot's xmin, below which
-- events are settled), on any database of the server, or a prepared
-- transaction nobody has committed. Without pg_read_all_stats, other roles'
-- sessions show their pid and application name but not their state or age.
SELECT pid, application_name, state, database, transaction_seconds, query
  FROM (SELECT a.pid, a.application_name, a.state, a.datname AS database,
               extract(epoch FROM now() - a.xact_start)::float8 AS transaction_seconds,
               age(a.backend_xid) AS xid_age, left(a.query, 200) AS query
          FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL
           AND a.pid <> pg_backend_pid()
        UNION ALL
        SELECT NULL, 'prepared transaction ' || p.gid, 'prepared', p.database,
               extract(epoch FROM now() - p.prepared)::float8,
               age(p.transaction), NULL
          FROM pg_prepared_xacts p) AS running
 ORDER BY xid_age DESC
 LIMIT 1
