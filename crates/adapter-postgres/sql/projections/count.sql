-- How many projections pass a search's filters, which it adds.
SELECT count(*) FROM {projections}
