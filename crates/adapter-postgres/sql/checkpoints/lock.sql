-- Locks consumer $1's checkpoint for a unit of work, until it ends.
SELECT sequence_number FROM {checkpoints} WHERE consumer = $1 FOR UPDATE
