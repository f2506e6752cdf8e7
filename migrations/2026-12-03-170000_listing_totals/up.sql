-- The size of a listing (`X-Total-Count`) at a cost that does not grow with the table: counted
-- exactly while the listing holds at most `exact_up_to` rows (the count stops one row past that),
-- and the planner's estimate beyond, never less than what was counted. When the estimate alone is
-- ten times the threshold, the count is skipped: only statistics stale by a factor of ten (mass
-- changes that autovacuum has not analysed yet) could put the true size under the threshold.
--
-- `listing` is a SELECT the adapter assembles from constant text, never from request data; a
-- value it compares with is passed as `arg` and written `$1` in the text.
CREATE FUNCTION listing_total(listing TEXT, arg TEXT, exact_up_to BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    plan JSON;
    estimated BIGINT;
    counted BIGINT;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || listing INTO plan USING arg;
    estimated := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::NUMERIC::BIGINT;
    IF estimated > 10 * exact_up_to THEN
        RETURN estimated;
    END IF;
    EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) AS listed', listing, exact_up_to + 1)
        INTO counted USING arg;
    IF counted <= exact_up_to THEN
        RETURN counted;
    END IF;
    RETURN greatest(counted, estimated);
END;
$$;
