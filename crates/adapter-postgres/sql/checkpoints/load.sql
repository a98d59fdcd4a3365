-- The checkpoint of consumer $1.
SELECT sequence_number FROM {checkpoints} WHERE consumer = $1
