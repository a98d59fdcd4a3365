-- The newest token stored for partition $2 of consumer $1.
SELECT token FROM {fences} WHERE consumer = $1::text AND partition = $2::bigint
