/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  CloudWatch-style metrics of streams and shards: counted in shared
 *	  memory on the put and get paths, flushed per minute into
 *	  kinesis.metric_minutes by maintenance, shown by the view
 *	  kinesis.metrics.
 *
 * Every shard's shared state (stable.c) holds atomic counters of its
 * shard-level metrics, and every stream's own state those of its calls
 * (KinesisMetric in kinesis.h).  Client backends add to them with atomic
 * instructions, without locks and without table writes.  The flush takes
 * each counter with an atomic exchange against zero, so nothing is counted
 * twice, and upserts the taken values into the row of the current minute.
 * Flushes (the worker's and kinesis.run_maintenance()) take turns on an
 * object lock on the table (not a table lock, which delete_stream's
 * cleanup would have to wait for), so one that returns has seen every
 * earlier flush committed.
 * Values counted between two flushes belong to the minute of the second
 * one.  A flush whose transaction fails loses what it took, as a crash
 * loses what was not yet flushed: metrics are an approximation, records
 * never are.  Rows older than kinesis.metrics_history are deleted.  The
 * flush also hands each shard's written bytes and records to autoscaling
 * (autoscale.c), with or without history kept, and removes the consumer
 * budgets of consumers, streams and shards that are gone.
 *
 * Processes: client backends count; maintenance workers and
 * kinesis.run_maintenance() flush.  Locking: an exclusive object lock on
 * kinesis.metric_minutes per flush, held to the end of its transaction;
 * the shard-state table's LWLock in shared mode while the flush walks it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "kinesis.h"

/* One state's counters taken by a flush */
typedef struct TakenCounters
{
	int64		stream_id;
	int32		shard_index;
	char		consumer[KINESIS_MAX_NAME_LEN + 1];	/* "" but for consumers */
	Datum		values[KINESIS_NMETRICS];
} TakenCounters;

/* The taken counters of a flush */
typedef struct Taken
{
	TakenCounters *rows;
	int			n;
	int			size;
} Taken;

/*
 * Zero the counters of a new shared state.
 */
void
KinesisMetricsInit(KinesisShardState *state)
{
	int			m;

	for (m = 0; m < KINESIS_NMETRICS; m++)
		pg_atomic_init_u64(&state->metrics[m], 0);
}

/*
 * Add to a counter.
 */
void
KinesisMetricAdd(KinesisShardState *state, KinesisMetric m, int64 value)
{
	if (value != 0)
		pg_atomic_fetch_add_u64(&state->metrics[m], (uint64) value);
}

/*
 * Raise an atomic maximum to value.
 */
void
KinesisCounterMax(pg_atomic_uint64 *counter, int64 value)
{
	uint64		old = pg_atomic_read_u64(counter);

	while (value > 0 && (uint64) value > old)
	{
		if (pg_atomic_compare_exchange_u64(counter, &old, (uint64) value))
			break;
	}
}

/*
 * Raise a maximum of a state to value.
 */
void
KinesisMetricMax(KinesisShardState *state, KinesisMetric m, int64 value)
{
	KinesisCounterMax(&state->metrics[m], value);
}

/*
 * Count the latency of a call that started at start: its sum counter, and
 * the maximum counter that follows it.
 */
void
KinesisMetricLatency(KinesisShardState *state, KinesisMetric sum, TimestampTz start)
{
	int64		usecs = Max(GetCurrentTimestamp() - start, 0);

	KinesisMetricAdd(state, sum, usecs);
	KinesisMetricMax(state, sum + 1, usecs);
}

/*
 * Take a set of counters into the flush; returns the row, or NULL when
 * nothing was counted.
 */
static TakenCounters *
take(Taken *taken, pg_atomic_uint64 *metrics, int64 stream_id, int32 shard_index,
	 const char *consumer)
{
	TakenCounters row;
	bool		any = false;
	int			m;

	for (m = 0; m < KINESIS_NMETRICS; m++)
	{
		uint64		v = pg_atomic_exchange_u64(&metrics[m], 0);

		row.values[m] = Int64GetDatum((int64) v);
		any |= (v != 0);
	}
	if (!any)
		return NULL;
	if (taken->n == taken->size)
	{
		taken->size *= 2;
		taken->rows = repalloc(taken->rows, sizeof(TakenCounters) * taken->size);
	}
	row.stream_id = stream_id;
	row.shard_index = shard_index;
	strlcpy(row.consumer, consumer, sizeof(row.consumer));
	taken->rows[taken->n] = row;
	return &taken->rows[taken->n++];
}

/*
 * Take the counters of one state of this database (a KinesisStableWalk
 * callback); a shard's writes also feed autoscaling.
 */
static void
take_counters(KinesisShardState *state, void *arg)
{
	TakenCounters *row = take(arg, state->metrics, state->key.stream_id,
							  state->key.shard_index, "");

	if (row != NULL && state->key.shard_index != KINESIS_STREAM_STATE)
		KinesisAutoscaleFeed(state, DatumGetInt64(row->values[KM_INCOMING_BYTES]),
							 DatumGetInt64(row->values[KM_INCOMING_RECORDS]));
}

/*
 * Take the counters of one registered consumer on one shard (a
 * KinesisThrottleWalkConsumers callback).
 */
static void
take_consumer_counters(pg_atomic_uint64 *metrics, int64 stream_id, int32 shard_index,
					   const char *consumer, void *arg)
{
	(void) take(arg, metrics, stream_id, shard_index, consumer);
}

/*
 * Remove the consumer budgets (throttle.c) whose consumer, stream or shard
 * is gone; their counters were just taken.
 */
static void
reap_budgets(Oid owner)
{
	HTAB	   *live = KinesisThrottleLiveSet();
	uint64		i;

	KinesisSpiExec("SELECT c.stream_id, s.shard_index, c.consumer_name"
				   " FROM kinesis.consumers c JOIN kinesis.shards s USING (stream_id)"
				   " WHERE s.expired_at IS NULL",
				   0, NULL, NULL, owner, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
		KinesisThrottleLiveAdd(live, KinesisSpiInt(i, 1, 0), (int32) KinesisSpiInt(i, 2, 0),
							   KinesisSpiText(i, 3));
	KinesisThrottleReap(live);
	hash_destroy(live);
}

/*
 * Delete the rows older than kinesis.metrics_history, and those of
 * deleted streams.
 */
static void
trim_history(Oid owner)
{
	Datum		values[1] = {Int32GetDatum(kinesis_metrics_history)};
	Oid			types[1] = {INT4OID};

	KinesisSpiExec("DELETE FROM kinesis.metric_minutes m"
				   " WHERE minute < pg_catalog.now() - pg_catalog.make_interval(mins => $1)"
				   " OR NOT EXISTS (SELECT FROM kinesis.streams s WHERE s.stream_id = m.stream_id)",
				   1, types, values, owner, SPI_OK_DELETE);
}

/*
 * Flush every counter of this database's streams into the current minute
 * of kinesis.metric_minutes and trim its history; caller has SPI
 * connected.  Returns the number of rows written.
 */
int
KinesisMetricsFlush(void)
{
	Taken		taken;
	Oid			types[4] = {INT8OID, INT4OID, INT8ARRAYOID, TEXTOID};
	Oid			owner = KinesisExtensionOwner();
	Oid			table = KinesisCatalogTable("metric_minutes");
	bool		keep = kinesis_metrics_history > 0 && OidIsValid(table);
	int			i;

	/*
	 * One flush at a time: a caller that finds its counters taken by a
	 * concurrent flush sees them once it may go on.
	 */
	if (OidIsValid(table))
		LockDatabaseObject(RelationRelationId, table, 0, ExclusiveLock);

	taken.size = 64;
	taken.n = 0;
	taken.rows = palloc(sizeof(TakenCounters) * taken.size);
	KinesisStableWalk(take_counters, &taken);
	KinesisThrottleWalkConsumers(take_consumer_counters, &taken);
	if (OidIsValid(KinesisCatalogTable("consumers")))
		reap_budgets(owner);

	/*
	 * With no history kept, or before ALTER EXTENSION UPDATE created the
	 * table, the counters still feed autoscaling.
	 */
	for (i = 0; i < taken.n && keep; i++)
	{
		Datum		values[4];

		values[0] = Int64GetDatum(taken.rows[i].stream_id);
		values[1] = Int32GetDatum(taken.rows[i].shard_index);
		values[2] = PointerGetDatum(construct_array(taken.rows[i].values, KINESIS_NMETRICS,
													INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[3] = CStringGetTextDatum(taken.rows[i].consumer);
		KinesisSpiExec("INSERT INTO kinesis.metric_minutes AS m"
					   " (stream_id, shard_index, consumer_name, minute, counters)"
					   " SELECT $1, $2, $4, pg_catalog.date_trunc('minute', pg_catalog.now()), $3"
					   " WHERE EXISTS (SELECT FROM kinesis.streams WHERE stream_id = $1)"
					   " ON CONFLICT (stream_id, shard_index, consumer_name, minute) DO UPDATE"
					   " SET counters = kinesis._merge_counters(m.counters, excluded.counters)",
					   4, types, values, owner, SPI_OK_INSERT);
	}

	if (OidIsValid(table))
		trim_history(owner);
	return keep ? taken.n : 0;
}
