-- The versions of the migrations applied so far.
SELECT version FROM {migrations}
