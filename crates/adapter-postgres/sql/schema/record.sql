-- Records that migration $1 (named $2) was applied.
INSERT INTO {migrations} (version, name) VALUES ($1, $2)
