-- Retention: expired records are invisible at once and removed physically
-- by maintenance, which rotates each shard's three segments and truncates
-- a segment only once all it holds has expired; never by DELETE.  The
-- clock that decides expiry is moved with kinesis.debug_clock_offset.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('ret', 1);
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'ret' \gset


SELECT count(*) FROM kinesis.put_records('ret', array_fill('old'::bytea, ARRAY[10]),
                                         ARRAY(SELECT 'k' || i FROM generate_series(1, 10) i));

-- nothing to do while the current segment is young
SELECT * FROM kinesis.run_maintenance();

-- 13 hours later (more than half the 24-hour retention): segment 1 starts
SET kinesis.debug_clock_offset = '13h';
SELECT * FROM kinesis.run_maintenance();
SELECT * FROM kinesis.run_maintenance();
SELECT count(*) FROM kinesis.put_records('ret', array_fill('mid'::bytea, ARRAY[5]),
                                         ARRAY(SELECT 'k' || i FROM generate_series(1, 5) i));
SELECT segment, count(*) FROM :t GROUP BY segment ORDER BY segment;
SELECT count(*) AS visible FROM kinesis.read_records('ret', '0');

-- 26 hours: the first records expired (invisible at once); segment 2 starts
SET kinesis.debug_clock_offset = '26h';
SELECT * FROM kinesis.run_maintenance();
SELECT count(*) FROM kinesis.put_records('ret', array_fill('new'::bytea, ARRAY[3]),
                                         ARRAY(SELECT 'k' || i FROM generate_series(1, 3) i));
SELECT segment, count(*) FROM :t GROUP BY segment ORDER BY segment;
-- (records arrive on the real clock, so at "26 hours" every one of them is
-- more than 24 hours old: all are still stored, none is visible)
SELECT count(*) AS visible FROM kinesis.read_records('ret', '0');

-- 39 hours: segment 0 holds only expired records; it is truncated and reused
SET kinesis.debug_clock_offset = '39h';
SELECT * FROM kinesis.run_maintenance();
SELECT segment, count(*) FROM :t GROUP BY segment ORDER BY segment;
SELECT count(*) FROM kinesis.put_records('ret', array_fill('newest'::bytea, ARRAY[2]),
                                         ARRAY(SELECT 'k' || i FROM generate_series(1, 2) i));
SELECT segment, convert_from(data, 'UTF8'), count(*) FROM :t GROUP BY 1, 2 ORDER BY 1, 2;

-- readers see the shard in sequence order across segments
RESET kinesis.debug_clock_offset;
SELECT convert_from(data, 'UTF8') AS data, count(*)
  FROM kinesis.read_records('ret', '0') GROUP BY 1 ORDER BY min(sequence_number);
SELECT bool_and(sequence_number > lag) AS ascending
  FROM (SELECT sequence_number, lag(sequence_number, 1, 0) OVER (ORDER BY ordinality) AS lag
          FROM kinesis.read_records('ret', '0') WITH ORDINALITY) s;
-- TRIM_HORIZON starts at the oldest record left
SELECT cardinality(records), convert_from((records[1]).data, 'UTF8') AS first
  FROM kinesis.get_records(kinesis.get_shard_iterator('ret', '0', 'TRIM_HORIZON'));

-- no record was ever deleted: the stream tables have no deleted or dead tuples
SELECT pg_stat_force_next_flush();
SELECT coalesce(sum(n_tup_del), 0) AS deleted, coalesce(sum(n_dead_tup), 0) AS dead
  FROM pg_stat_user_tables WHERE schemaname = 'kinesis_data';

-- the segments in the catalog
SELECT segment, start_counter > 0 AS started_later FROM kinesis.segments
 WHERE stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'ret')
 ORDER BY segment;
SELECT current_segment FROM kinesis.shards
 WHERE stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'ret');

-- ordinary roles cannot run maintenance
CREATE ROLE k_maint;
SET ROLE k_maint;
SELECT sqlerr('SELECT * FROM kinesis.run_maintenance()');
RESET ROLE;
DROP ROLE k_maint;

SELECT kinesis.delete_stream('ret');
