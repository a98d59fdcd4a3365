-- Makes sure consumer $1 has a checkpoint row for a unit of work to lock (0 is
-- the placeholder of a consumer that has committed nothing yet).
INSERT INTO {checkpoints} (consumer, sequence_number) VALUES ($1, 0)
ON CONFLICT (consumer) DO NOTHING
