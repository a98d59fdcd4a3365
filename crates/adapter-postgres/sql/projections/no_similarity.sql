-- Why projections cannot be sorted by similarity here, or NULL when they can.
SELECT {no_similarity}()
