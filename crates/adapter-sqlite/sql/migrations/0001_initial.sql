-- The event log. A sequence number is the row id: the single writer gives
-- each event the next one inside its write transaction, and commits in that
-- order, so every reader's snapshot holds a gapless prefix of the log.
CREATE TABLE eventblocks_events (
    sequence_number INTEGER PRIMARY KEY,
    id BLOB NOT NULL,
    category TEXT NOT NULL,
    stream TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    -- NULL when the event has none, else a JSON array of its sorted tags.
    tags TEXT,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    -- Microseconds since the Unix epoch.
    occurred_at INTEGER NOT NULL,
    observed_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX eventblocks_events_id ON eventblocks_events (id);
CREATE UNIQUE INDEX eventblocks_events_stream ON eventblocks_events (category, stream, position);
CREATE INDEX eventblocks_events_category ON eventblocks_events (category, sequence_number);
CREATE INDEX eventblocks_events_name ON eventblocks_events (name, sequence_number);

-- Each tag of each event, for query reads and query conditions.
CREATE TABLE eventblocks_event_tags (
    tag TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    PRIMARY KEY (tag, sequence_number)
) WITHOUT ROWID;

-- The upstream position each consumer of a tracked publish recorded.
CREATE TABLE eventblocks_tracking (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
) WITHOUT ROWID;

-- Consumer checkpoints.
CREATE TABLE eventblocks_checkpoints (
    consumer TEXT PRIMARY KEY,
    sequence_number INTEGER NOT NULL
) WITHOUT ROWID;

-- The newest fencing token seen per consumer partition, raised by every
-- lease acquisition and by every fenced write.
CREATE TABLE eventblocks_fences (
    consumer TEXT NOT NULL,
    partition INTEGER NOT NULL,
    token INTEGER NOT NULL,
    PRIMARY KEY (consumer, partition)
) WITHOUT ROWID;

-- Partition leases: the holder (an instance id, NULL when released) keeps
-- its lease by moving expires_at (Unix milliseconds) forwards.
CREATE TABLE eventblocks_leases (
    consumer TEXT NOT NULL,
    partition INTEGER NOT NULL,
    holder TEXT,
    token INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, partition)
) WITHOUT ROWID;

-- Projections: one per name and source; the id names it within its name.
CREATE TABLE eventblocks_projections (
    name TEXT NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (name, id)
);
CREATE UNIQUE INDEX eventblocks_projections_source ON eventblocks_projections (name, source);

-- Facts about the store itself: its identity, which heads carry.
CREATE TABLE eventblocks_store (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO eventblocks_store (key, value) VALUES ('store_id', random());
