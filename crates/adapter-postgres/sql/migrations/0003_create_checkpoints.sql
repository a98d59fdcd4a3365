-- Consumer checkpoints: the last sequence number each named consumer (or
-- consumer partition) has processed.
CREATE TABLE IF NOT EXISTS {checkpoints} (
    consumer        text        NOT NULL,
    sequence_number bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT {checkpoints_key} PRIMARY KEY (consumer)
);
