-- Metrics: counted in shared memory by the put and get paths, flushed per
-- minute into kinesis.metric_minutes by maintenance, shown with their
-- CloudWatch names by kinesis.metrics.  Sums are taken over minutes: a
-- flush may fall on either side of a minute boundary.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT kinesis.create_stream('mx', 2);
\set lo 0
\set hi 340282366920938463463374607431768211455

-- three put_record calls of 4 bytes (data 'abc', key 'k') to shard 0
SELECT count(*) FROM generate_series(1, 3) i, LATERAL kinesis.put_record('mx', 'abc', 'k', :lo + i - 1);
-- one put_records call: two records to each shard, 3 bytes each
SELECT count(*) FROM kinesis.put_records('mx', ARRAY['ab', 'ab', 'ab', 'ab']::bytea[],
                                         ARRAY['k', 'k', 'k', 'k'], ARRAY[:lo, :hi, :lo, :hi]::numeric[]);
-- two get_records calls on shard 0: five records, then none
SELECT kinesis.get_shard_iterator('mx', '0', 'TRIM_HORIZON') AS it \gset
SELECT cardinality(records) FROM kinesis.get_records(:'it');
SELECT cardinality(g2.records)
  FROM kinesis.get_records(:'it') g1, LATERAL kinesis.get_records(g1.next_shard_iterator) g2;
-- nothing is written until a flush
SELECT count(*) FROM kinesis.metric_minutes m JOIN kinesis.streams s USING (stream_id) WHERE s.stream_name = 'mx';
SELECT count(*) >= 0 FROM kinesis.run_maintenance();

CREATE TEMP VIEW mx AS
SELECT coalesce(shard_id, 'stream') AS level, metric_name, unit, sum(sum) AS sum, sum(samples) AS samples,
       max(maximum) AS maximum
  FROM kinesis.metrics WHERE stream_name = 'mx'
 GROUP BY 1, 2, 3;

SELECT level, metric_name, unit, sum, samples FROM mx
 WHERE metric_name NOT LIKE '%Latency' AND metric_name NOT LIKE '%IteratorAge%'
 ORDER BY 1, 2;
-- latencies and ages: one sample per successful call, maxima present
SELECT level, metric_name, samples, sum >= 0 AS has_sum, maximum >= 0 AS has_max
  FROM mx WHERE metric_name LIKE '%Latency' OR metric_name LIKE '%IteratorAge%' ORDER BY 1, 2;
SELECT metric_name, average FROM kinesis.metrics
 WHERE stream_name = 'mx' AND metric_name LIKE '%.Success' ORDER BY 1;

-- throttled records and calls
-- (the clock an hour on fills shard 0's buckets; back, it stops them)
SET kinesis.enforce_limits = on;
SET kinesis.debug_clock_offset = '1h';
SELECT count(*) FILTER (WHERE error_code IS NOT NULL) AS throttled FROM kinesis.put_records('mx',
         array_fill(convert_to(repeat('d', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]));
SET kinesis.debug_clock_offset = 0;
SELECT sqlerr($$SELECT kinesis.put_record('mx', convert_to(repeat('d', 3000), 'UTF8'), 'k', 0)$$);
-- five calls a second: the sixth is throttled
SELECT sqlerr($$SELECT count(*) FROM generate_series(1, 6) i,
                LATERAL kinesis.get_records('$$ || :'it' || $$', i)$$);
RESET kinesis.debug_clock_offset;
RESET kinesis.enforce_limits;
SELECT count(*) >= 0 FROM kinesis.run_maintenance();
SELECT level, metric_name, sum, samples FROM mx
 WHERE metric_name IN ('WriteProvisionedThroughputExceeded', 'ReadProvisionedThroughputExceeded',
                       'PutRecords.ThrottledRecords', 'PutRecords.TotalRecords', 'PutRecord.Success',
                       'GetRecords.Success')
 ORDER BY 1, 2;

-- history is bounded: rows older than kinesis.metrics_history go
UPDATE kinesis.metric_minutes SET minute = minute - interval '2 days'
 WHERE stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'mx');
SELECT count(*) FROM generate_series(1, 1) i, LATERAL kinesis.put_record('mx', 'abc', 'k');
SELECT count(*) >= 0 FROM kinesis.run_maintenance();
SELECT metric_name, sum FROM mx WHERE level = 'stream' AND metric_name LIKE 'Incoming%' ORDER BY 1;

-- a deleted stream's metrics leave the view at once, the table at the next flush
SELECT kinesis.delete_stream('mx');
SELECT count(*) FROM kinesis.metrics WHERE stream_name = 'mx';
SELECT count(*) >= 0 FROM kinesis.run_maintenance();
SELECT count(*) FROM kinesis.metric_minutes
 WHERE stream_id NOT IN (SELECT stream_id FROM kinesis.streams);
