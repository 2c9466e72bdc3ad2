/*-------------------------------------------------------------------------
 *
 * throttle.c
 *	  Per-shard throughput limits of provisioned streams, as token buckets
 *	  in the shard's shared state.
 *
 * Each shard of a PROVISIONED stream takes at most 1 MiB and 1,000 records
 * per second of writes and serves 2 MiB and 5 get_records calls per second
 * of reads (spec/kinesis-api.md 8.1).  Every limit is a bucket that holds
 * one second of its rate and refills continuously.  A record is admitted
 * when both write buckets hold enough for it (a record larger than a whole
 * bucket needs a full bucket, then leaves it in debt); a get_records call
 * is admitted while the call bucket holds a call and the byte bucket is not
 * in debt, and pays for the bytes it returned afterwards, so a call that
 * returned 10 MiB throttles the next four seconds, as in Kinesis.
 *
 * Time is KinesisNow(): a test that moves kinesis.debug_clock_offset back
 * freezes the buckets, one that moves it forward fills them.  Tokens are
 * not given back when the transaction aborts.
 *
 * Processes: client backends.  Locking: the shard state's spinlock, held
 * for a refill and a comparison; no table writes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "kinesis.h"

/* Levels are kept in millionths of a token: refill is rate tokens per µs */
#define TOKEN					INT64CONST(1000000)

/* Longest refill computed; far more than any bucket needs to fill */
#define MAX_REFILL_USECS		(60 * USECS_PER_SEC)

/* Tokens per second, which is also each bucket's capacity */
static const int64 bucket_rate[KINESIS_NBUCKETS] = {
	[KINESIS_BUCKET_WRITE_BYTES] = 1024 * 1024,
	[KINESIS_BUCKET_WRITE_RECORDS] = 1000,
	[KINESIS_BUCKET_READ_BYTES] = 2 * 1024 * 1024,
	[KINESIS_BUCKET_READ_CALLS] = 5,
};

/*
 * Fill the buckets of a new shard state.
 */
void
KinesisThrottleInit(KinesisShardState *state)
{
	int			b;

	state->bucket_time = KinesisNow();
	for (b = 0; b < KINESIS_NBUCKETS; b++)
		state->buckets[b] = bucket_rate[b] * TOKEN;
}

/*
 * Whether the stream's shards are throttled.
 */
bool
KinesisThrottled(KinesisStream *stream)
{
	return kinesis_enforce_limits && stream->mode == KINESIS_MODE_PROVISIONED;
}

/*
 * Add the tokens earned since the last refill; caller holds the mutex.
 * The clock moving back refills nothing.
 */
static void
refill(KinesisShardState *state, TimestampTz now)
{
	int64		elapsed;
	int			b;

	if (now <= state->bucket_time)
		return;
	elapsed = Min(now - state->bucket_time, MAX_REFILL_USECS);
	for (b = 0; b < KINESIS_NBUCKETS; b++)
		state->buckets[b] = Min(state->buckets[b] + elapsed * bucket_rate[b],
								bucket_rate[b] * TOKEN);
	state->bucket_time = now;
}

/*
 * Admit one record of the given size into an attached shard, taking its
 * tokens; false when the shard is over its write rate.
 */
bool
KinesisThrottleWrite(KinesisShard *shard, int64 bytes, TimestampTz now)
{
	KinesisShardState *state = shard->state;
	int64		need = Min(bytes, bucket_rate[KINESIS_BUCKET_WRITE_BYTES]) * TOKEN;
	bool		admitted;

	SpinLockAcquire(&state->mutex);
	refill(state, now);
	admitted = state->buckets[KINESIS_BUCKET_WRITE_RECORDS] >= TOKEN &&
		state->buckets[KINESIS_BUCKET_WRITE_BYTES] >= need;
	if (admitted)
	{
		state->buckets[KINESIS_BUCKET_WRITE_RECORDS] -= TOKEN;
		state->buckets[KINESIS_BUCKET_WRITE_BYTES] -= bytes * TOKEN;
	}
	SpinLockRelease(&state->mutex);
	return admitted;
}

/*
 * Take one get_records call from an attached shard; false when the shard
 * is over its read rate.
 */
bool
KinesisThrottleReadCall(KinesisShard *shard, TimestampTz now)
{
	KinesisShardState *state = shard->state;
	bool		admitted;

	SpinLockAcquire(&state->mutex);
	refill(state, now);
	admitted = state->buckets[KINESIS_BUCKET_READ_CALLS] >= TOKEN &&
		state->buckets[KINESIS_BUCKET_READ_BYTES] > 0;
	if (admitted)
		state->buckets[KINESIS_BUCKET_READ_CALLS] -= TOKEN;
	SpinLockRelease(&state->mutex);
	return admitted;
}

/*
 * Pay for the bytes an admitted get_records call returned.
 */
void
KinesisThrottleReadBytes(KinesisShard *shard, int64 bytes)
{
	KinesisShardState *state = shard->state;

	SpinLockAcquire(&state->mutex);
	state->buckets[KINESIS_BUCKET_READ_BYTES] -= bytes * TOKEN;
	SpinLockRelease(&state->mutex);
}

/*
 * The message of a throttled put_records entry, in Kinesis' words.
 */
char *
KinesisThrottleEntryMessage(KinesisStream *stream, KinesisShard *shard)
{
	return psprintf("Rate exceeded for shard %s in stream %s under account %s.",
					KinesisShardIdString(shard->shard_index), stream->name,
					kinesis_account_id);
}

/*
 * Raise KN005 for a throttled put_record or get_records call.
 */
void
KinesisThrottleError(KinesisStream *stream, KinesisShard *shard, bool write)
{
	ereport(ERROR,
			(errcode(ERRCODE_KINESIS_THROUGHPUT_EXCEEDED),
			 errmsg("rate exceeded for shard \"%s\" in stream \"%s\"",
					KinesisShardIdString(shard->shard_index), stream->name),
			 write ?
			 errdetail("A shard of a provisioned stream takes at most 1 MiB and 1000 records per second.") :
			 errdetail("A shard of a provisioned stream serves at most 2 MiB and 5 get_records calls per second."),
			 errhint("Retry after a pause, add shards with kinesis.update_shard_count, or switch the stream to ON_DEMAND.")));
}
