-- The position consumer $1 last tracked.
SELECT position FROM {tracking} WHERE consumer = $1
