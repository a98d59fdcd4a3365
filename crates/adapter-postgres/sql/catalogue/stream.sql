-- The last position of stream $2 of category $1.
SELECT last_position FROM {streams} WHERE category = $1 AND stream = $2
