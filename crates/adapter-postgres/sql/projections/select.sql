-- Projections, as a search reads them; the search adds its filters, order and
-- page.
SELECT name, id, source::text, state::text, metadata::text FROM {projections}
