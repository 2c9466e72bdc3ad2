-- Helpers shared by the regression tests; runs first (test/schedule).

-- The SQLSTATE and message of a statement's error, or 'no error'.
-- Sequence numbers (50 digits and more) and timestamps are masked, as they
-- differ from run to run.
CREATE FUNCTION sqlerr(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN regexp_replace(regexp_replace(SQLSTATE || ': ' || SQLERRM,
        '\d{50,}', '<seq>', 'g'), '\d{4}-\d\d-\d\d [0-9:.+-]+', '<time>', 'g');
END $$;

SELECT sqlerr('SELECT 1');
SELECT sqlerr('SELECT 1/0');
