-- Puts belong to the caller's transaction: rollback leaves nothing, a put
-- and the application's own INSERT commit together (the outbox pattern).
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('tx', 1);
CREATE TABLE orders (id int PRIMARY KEY, item text);

-- rollback: neither the order nor the event exists
BEGIN;
INSERT INTO orders VALUES (1, 'book');
SELECT shard_id FROM kinesis.put_record('tx', '{"order": 1}', 'order-1');
ROLLBACK;
SELECT count(*) AS orders FROM orders;
SELECT count(*) AS events FROM kinesis.read_records('tx', 'shardId-000000000000');

-- commit: both exist
BEGIN;
INSERT INTO orders VALUES (2, 'lamp');
SELECT shard_id FROM kinesis.put_record('tx', '{"order": 2}', 'order-2');
COMMIT;
SELECT count(*) AS orders FROM orders;
SELECT partition_key, convert_from(data, 'UTF8') FROM kinesis.read_records('tx', 'shardId-000000000000');

-- an error later in the transaction takes the event with it
BEGIN;
SELECT shard_id FROM kinesis.put_record('tx', '{"order": 3}', 'order-3');
INSERT INTO orders VALUES (2, 'duplicate');
COMMIT;
SELECT count(*) AS events FROM kinesis.read_records('tx', 'shardId-000000000000');

-- savepoints: a rolled-back subtransaction's records disappear, the rest commit
BEGIN;
SAVEPOINT a;
SELECT count(*) FROM kinesis.put_records('tx', ARRAY['x', 'y']::bytea[], ARRAY['sub-1', 'sub-2']);
ROLLBACK TO SAVEPOINT a;
SELECT shard_id FROM kinesis.put_record('tx', 'z', 'kept');
COMMIT;
SELECT partition_key FROM kinesis.read_records('tx', 'shardId-000000000000');

-- a writer does not read its own uncommitted records (they are not stable)
BEGIN;
SELECT shard_id FROM kinesis.put_record('tx', 'w', 'mine');
SELECT count(*) AS visible_before_commit FROM kinesis.read_records('tx', 'shardId-000000000000') WHERE partition_key = 'mine';
COMMIT;
SELECT count(*) AS visible_after_commit FROM kinesis.read_records('tx', 'shardId-000000000000') WHERE partition_key = 'mine';

-- a prepared transaction would outlive the registry entry: refused
BEGIN;
SELECT shard_id FROM kinesis.put_record('tx', 'p', 'prepared');
PREPARE TRANSACTION 'kinesis_p';
SELECT count(*) AS prepared FROM pg_prepared_xacts WHERE gid = 'kinesis_p';
SELECT count(*) AS events FROM kinesis.read_records('tx', 'shardId-000000000000') WHERE partition_key = 'prepared';
-- transactions that only read streams can be prepared
BEGIN;
SELECT count(*) FROM kinesis.read_records('tx', 'shardId-000000000000');
INSERT INTO orders VALUES (10, 'prepared');
PREPARE TRANSACTION 'kinesis_read';
COMMIT PREPARED 'kinesis_read';

-- read-only transactions cannot write
BEGIN READ ONLY;
SELECT sqlerr($$SELECT * FROM kinesis.put_record('tx', 'r', 'ro')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('tx', ARRAY['r']::bytea[], ARRAY['ro'])$$);
SELECT sqlerr($$SELECT kinesis.create_stream('ro', 1)$$);
SELECT count(*) FROM kinesis.read_records('tx', 'shardId-000000000000');
COMMIT;

-- many puts in one transaction, one writer registration per shard
BEGIN;
SELECT count(*) FROM generate_series(1, 200) i, LATERAL kinesis.put_record('tx', 'bulk', 'bulk-' || i);
SELECT in_flight_writers FROM kinesis.shard_horizon WHERE stream_name = 'tx';
COMMIT;
SELECT in_flight_writers FROM kinesis.shard_horizon WHERE stream_name = 'tx';
SELECT count(*) FROM kinesis.read_records('tx', 'shardId-000000000000') WHERE partition_key LIKE 'bulk-%';

-- a change to the stream in mid-transaction (which rebuilds every cached
-- description of it) does not register the transaction a second time
BEGIN;
SELECT shard_id FROM kinesis.put_record('tx', 'c1', 'cache-1');
SELECT kinesis.increase_stream_retention_period('tx', 48);
SELECT shard_id FROM kinesis.put_record('tx', 'c2', 'cache-2');
SELECT in_flight_writers FROM kinesis.shard_horizon WHERE stream_name = 'tx';
COMMIT;

-- records are append-only: direct writes to the record tables are refused
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'tx' \gset
SELECT sqlerr(format('INSERT INTO %s VALUES (1, now(), 0, 0, %L, %L)', :'t', 'k', 'd'));
SELECT sqlerr(format('UPDATE %s SET data = %L', :'t', 'changed'));
SELECT sqlerr(format('DELETE FROM %s', :'t'));
SELECT sqlerr(format('INSERT INTO %s_shard_0_s0 VALUES (1, now(), 0, 0, %L, %L)', :'t', 'k', 'd'));
SELECT count(*) FROM kinesis.read_records('tx', 'shardId-000000000000');

DROP TABLE orders;
SELECT kinesis.delete_stream('tx');
