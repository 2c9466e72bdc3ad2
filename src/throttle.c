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
 * Registered consumers (subscribe_to_shard, consume) read from their own
 * budget instead, 2 MiB per second per shard and consumer as in Kinesis'
 * enhanced fan-out, kept in a shared hash table of consumer budgets keyed
 * by database, stream, shard and consumer name.  When that table is full a
 * read goes unmetered.  Maintenance removes the budgets of consumers,
 * streams and shards that are gone.
 *
 * Processes: client backends; maintenance reaps budgets.  Locking: the
 * shard state's spinlock, held for a refill and a comparison.  Budgets
 * follow pg_stat_statements: the budget table's LWLock in shared mode to
 * find a budget and for as long as it is used (exclusive only to add one
 * or to remove the dead ones, so a budget never goes away under a
 * reader), its spinlock for the level; no table writes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
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
 * A bucket's level after elapsed microseconds at rate tokens per second,
 * capped at one second's worth.
 */
static int64
refilled(int64 level, int64 elapsed, int64 rate)
{
	return Min(level + Min(elapsed, MAX_REFILL_USECS) * rate, rate * TOKEN);
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
	elapsed = now - state->bucket_time;
	for (b = 0; b < KINESIS_NBUCKETS; b++)
		state->buckets[b] = refilled(state->buckets[b], elapsed, bucket_rate[b]);
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

/* A consumer's read budget on one shard: the key */
typedef struct BudgetKey
{
	Oid			dboid;
	int32		shard_index;
	int64		stream_id;
	char		consumer[KINESIS_MAX_NAME_LEN + 1]; /* zero-padded */
} BudgetKey;

typedef struct KinesisBudget
{
	BudgetKey	key;			/* hash key, must be first */
	slock_t		mutex;			/* protects time and level */
	TimestampTz time;			/* last refill */
	int64		level;			/* bytes, in millionths */
	pg_atomic_uint64 metrics[KINESIS_NMETRICS]; /* the consumer's reads
												 * of the shard (metrics.c) */
} KinesisBudget;

#define BUDGETS				(2 * kinesis_max_shards)
#define CONSUMER_READ_RATE	(2 * 1024 * 1024)

static HTAB *budgets = NULL;
static LWLock *budgets_lock = NULL;

Size
KinesisThrottleShmemSize(void)
{
	return hash_estimate_size(BUDGETS, sizeof(KinesisBudget));
}

void
KinesisThrottleShmemInit(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(BudgetKey);
	info.entrysize = sizeof(KinesisBudget);
	budgets = ShmemInitHash("kinesis consumer budgets", BUDGETS, BUDGETS,
							&info, HASH_ELEM | HASH_BLOBS);
	budgets_lock = &(GetNamedLWLockTranche("kinesis"))[KINESIS_LWLOCK_BUDGETS].lock;
}

static void
budget_key(BudgetKey *key, int64 stream_id, int32 shard_index, const char *consumer)
{
	memset(key, 0, sizeof(*key));
	key->dboid = MyDatabaseId;
	key->shard_index = shard_index;
	key->stream_id = stream_id;
	strlcpy(key->consumer, consumer, sizeof(key->consumer));
}

/*
 * The budget of key, with the budget table's lock held on return (shared,
 * or exclusive when the budget was just created; the caller releases it);
 * created full when create and missing.  NULL when missing and not
 * created, or when the table is full (the read then goes unmetered).
 */
static KinesisBudget *
budget_find(BudgetKey *key, bool create)
{
	KinesisBudget *budget;
	bool		found;
	int			m;

	LWLockAcquire(budgets_lock, LW_SHARED);
	budget = hash_search(budgets, key, HASH_FIND, NULL);
	if (budget != NULL || !create)
		return budget;

	LWLockRelease(budgets_lock);
	LWLockAcquire(budgets_lock, LW_EXCLUSIVE);
	budget = hash_search(budgets, key, HASH_ENTER_NULL, &found);
	if (budget != NULL && !found)
	{
		SpinLockInit(&budget->mutex);
		budget->time = KinesisNow();
		budget->level = (int64) CONSUMER_READ_RATE * TOKEN;
		for (m = 0; m < KINESIS_NMETRICS; m++)
			pg_atomic_init_u64(&budget->metrics[m], 0);
	}
	return budget;
}

/*
 * Whether a registered consumer may read a shard with its budget: not
 * while the budget is in debt.  With raise, a refusal is KN005.
 */
bool
KinesisConsumerAdmit(KinesisStream *stream, KinesisShard *shard, const char *consumer,
					 bool raise)
{
	BudgetKey	key;
	KinesisBudget *budget;
	TimestampTz now;
	bool		admitted = true;

	if (!kinesis_enforce_limits)
		return true;
	budget_key(&key, stream->stream_id, shard->shard_index, consumer);
	budget = budget_find(&key, true);
	if (budget != NULL)
	{
		now = KinesisNow();
		SpinLockAcquire(&budget->mutex);
		if (now > budget->time)
		{
			budget->level = refilled(budget->level, now - budget->time, CONSUMER_READ_RATE);
			budget->time = now;
		}
		admitted = budget->level > 0;
		SpinLockRelease(&budget->mutex);
	}
	LWLockRelease(budgets_lock);
	if (!admitted && raise)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_THROUGHPUT_EXCEEDED),
				 errmsg("rate exceeded for consumer \"%s\" on shard \"%s\" in stream \"%s\"",
						consumer, KinesisShardIdString(shard->shard_index), stream->name),
				 errdetail("A registered consumer reads at most 2 MiB per second from each shard.")));
	return admitted;
}

/*
 * Pay for a consumer's read from its budget, and count it in the
 * consumer's metrics (the GetRecords counters of its budget, shown as
 * SubscribeToShardEvent.*).
 */
void
KinesisConsumerSpent(KinesisStream *stream, KinesisShard *shard, const char *consumer,
					 int64 records, int64 bytes, int64 behind_ms)
{
	BudgetKey	key;
	KinesisBudget *budget;

	budget_key(&key, stream->stream_id, shard->shard_index, consumer);
	budget = budget_find(&key, true);
	if (budget != NULL)
	{
		if (kinesis_enforce_limits)
		{
			SpinLockAcquire(&budget->mutex);
			budget->level -= bytes * TOKEN;
			SpinLockRelease(&budget->mutex);
		}
		pg_atomic_fetch_add_u64(&budget->metrics[KM_GET_RECORDS_SUCCESS], 1);
		pg_atomic_fetch_add_u64(&budget->metrics[KM_GET_RECORDS_RECORDS], (uint64) records);
		pg_atomic_fetch_add_u64(&budget->metrics[KM_GET_RECORDS_BYTES], (uint64) bytes);
		KinesisCounterMax(&budget->metrics[KM_GET_RECORDS_ITERATOR_AGE_MAX], behind_ms);
	}
	LWLockRelease(budgets_lock);
}

/*
 * Remove the budgets of this database that are not in live, a hash table
 * of the BudgetKeys of every registered consumer on every unexpired shard
 * (read by maintenance, after flushing the budgets' metrics): those of
 * deregistered consumers, deleted streams and expired shards, so that the
 * table does not fill up over time.  A budget removed just after its
 * consumer registered, because live was read before, is created again,
 * full, by the next read.
 */
void
KinesisThrottleReap(HTAB *live)
{
	HASH_SEQ_STATUS status;
	KinesisBudget *budget;

	LWLockAcquire(budgets_lock, LW_EXCLUSIVE);
	hash_seq_init(&status, budgets);
	while ((budget = hash_seq_search(&status)) != NULL)
	{
		if (budget->key.dboid == MyDatabaseId &&
			hash_search(live, &budget->key, HASH_FIND, NULL) == NULL)
			hash_search(budgets, &budget->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(budgets_lock);
}

/*
 * A hash table (in CurrentMemoryContext) to collect live budget keys in,
 * for KinesisThrottleReap.
 */
HTAB *
KinesisThrottleLiveSet(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(BudgetKey);
	info.entrysize = sizeof(BudgetKey);
	info.hcxt = CurrentMemoryContext;
	return hash_create("kinesis live budgets", 256, &info,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * Add a registered consumer's budget on a shard to a live set.
 */
void
KinesisThrottleLiveAdd(HTAB *live, int64 stream_id, int32 shard_index, const char *consumer)
{
	BudgetKey	key;

	budget_key(&key, stream_id, shard_index, consumer);
	(void) hash_search(live, &key, HASH_ENTER, NULL);
}

/*
 * Call fn on the metrics of every consumer budget of this database, under
 * the table's lock in shared mode.
 */
void
KinesisThrottleWalkConsumers(void (*fn) (pg_atomic_uint64 *metrics, int64 stream_id,
										 int32 shard_index, const char *consumer, void *arg),
							 void *arg)
{
	HASH_SEQ_STATUS status;
	KinesisBudget *budget;

	LWLockAcquire(budgets_lock, LW_SHARED);
	hash_seq_init(&status, budgets);
	while ((budget = hash_seq_search(&status)) != NULL)
	{
		if (budget->key.dboid == MyDatabaseId)
			fn(budget->metrics, budget->key.stream_id, budget->key.shard_index,
			   budget->key.consumer, arg);
	}
	LWLockRelease(budgets_lock);
}
