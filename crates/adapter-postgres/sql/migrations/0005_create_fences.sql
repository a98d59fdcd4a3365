-- Fencing tokens: for each consumer partition, the newest lease token seen.
-- Taking a lease raises its partition's token here; every write made under a
-- lease (checkpoint, projection, exactly-once unit) checks and raises it in
-- the same transaction, and is refused if a newer token is stored. The row
-- lock the check takes makes a takeover wait for a write already past it.
CREATE TABLE IF NOT EXISTS {fences} (
    consumer  text   NOT NULL,
    partition bigint NOT NULL,
    token     bigint NOT NULL,
    CONSTRAINT {fences_key} PRIMARY KEY (consumer, partition)
);
