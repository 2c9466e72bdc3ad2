/*-------------------------------------------------------------------------
 *
 * stable.c
 *	  The never-skip registry: per-shard sequence counters and the
 *	  in-flight writers that bound what readers may return (the "last
 *	  stable sequence" of spec/pg-anchors.md section 9).
 *
 * Sequence order is allocation order, visibility is commit order.  A
 * reader must never return counter N while a transaction that allocated a
 * smaller counter can still commit.  So every transaction registers, per
 * shard it writes, the first counter it allocated there, and unregisters
 * in its commit/abort callback, which PostgreSQL runs after the
 * transaction left the proc array (its rows are visible to every snapshot
 * taken afterwards, or it is known aborted).  A reader computes
 *
 *		lss = first counter of the oldest registered writer, or next_counter
 *
 * under the shard's spinlock, THEN takes a fresh snapshot and returns only
 * counters below lss.  Every counter below lss was allocated before the
 * reader's lock acquisition; its writer was either still registered (then
 * lss would be at most that counter) or had already ended, hence is
 * visible to the later snapshot.  Counters allocated later are >= lss.
 *
 * Processes: every backend that calls put_record(s) registers writers;
 * every backend that reads computes bounds.  Nothing else touches this.
 *
 * Shared memory, sized at postmaster start:
 *	- a hash table of KinesisShardState keyed by (database, stream, shard);
 *	- per backend, kinesis.max_shards_per_transaction writer nodes.
 *
 * Locking protocol:
 *	- the LWLock "kinesis" protects the hash table's structure: shared to
 *	  look an entry up, exclusive to add or remove one.  Backends keep a
 *	  pointer to their entries in their stream cache (catalog.c); entries
 *	  are removed only when their stream is deleted, after the deleting
 *	  transaction committed and while it still holds AccessExclusiveLock
 *	  on the stream's tables, and every user of a cached pointer first
 *	  locks the shard's table and processes invalidations, so no stale
 *	  pointer is ever dereferenced.
 *	- each entry's spinlock protects its counter, its tip timestamp and its
 *	  list of writer nodes, held for a few instructions only.  Writers link
 *	  their node at the tail under the same acquisition that allocates the
 *	  counter, so the list is ordered by first counter and its head is the
 *	  oldest writer: the bound is O(1) however many backends exist.
 *	- a backend's writer nodes belong to it alone; only their list links
 *	  are touched by others, under the entry's spinlock.
 *
 * Counters are microseconds of the Unix epoch or more (a hybrid logical
 * clock: max(previous + 1, now)), so numbers handed out before a crash,
 * even of records lost with synchronous_commit = off, stay below those
 * handed out after the restart; a state created after a restart is also
 * seeded above the largest counter physically present in the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "storage/condition_variable.h"
#include "common/hashfn.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "kinesis.h"

/* Added to the clock when a shard state is created (see file header) */
#define KINESIS_SEED_MARGIN_USECS	USECS_PER_SEC

/* Microseconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* One registration of a transaction as a writer of a shard */
typedef struct KinesisWriterNode
{
	dlist_node	link;			/* in the shard's writers list */
	KinesisShardState *shard;	/* the shard written */
	int64		first_counter;	/* first counter allocated there */
	int			pid;			/* writing backend */
	TimestampTz since;			/* when it registered */
} KinesisWriterNode;

/*
 * Readers waiting for new records (get_records with wait_ms) sleep on the
 * condition variable of their shard's slot, consumers of several shards
 * (consume) on their stream's; a committing writer wakes the slots of the
 * shards it wrote, and of their streams, when someone waits there.  Slots are shared
 * by hashing, so a wake-up may be for another shard: waiters read again.
 */
#define WAIT_SLOTS	1024

struct KinesisWaitSlot
{
	ConditionVariable cv;
	pg_atomic_uint32 waiters;	/* backends between WaitBegin and WaitEnd */
};

/* Shard states plus stream states: a stream has at least one shard */
#define STATE_TABLE_SIZE	(2 * kinesis_max_shards)

/* The fixed part of our shared memory */
typedef struct KinesisStableShared
{
	LWLock	   *lock;			/* protects the hash table's structure */
	int			nodes_per_backend;
} KinesisStableShared;

static KinesisStableShared *stable_shared = NULL;
static HTAB *shard_states = NULL;
static KinesisWriterNode *all_nodes = NULL;
static KinesisWaitSlot *wait_slots = NULL;

/* This backend's writer nodes and how many are linked */
static KinesisWriterNode *my_nodes = NULL;
static int	my_nused = 0;

/* Number of the current local transaction, to spot stale registrations */
static uint64 my_xact_number = 1;

/*
 * The last local transaction in which this backend registered as a writer
 * of each shard state it wrote.  The stream cache remembers the same in
 * KinesisShard.writer_xact for the fast path, but a cache entry rebuilt in
 * mid-transaction (after an invalidation) forgets it, and registering twice
 * would use up one more of the transaction's writer nodes.
 */
typedef struct WriterRegistration
{
	KinesisShardState *state;	/* hash key */
	uint64		xact;
} WriterRegistration;

static HTAB *my_registrations = NULL;

/* A shard (or, with shard_index -1, a whole stream) whose shared state goes */
typedef struct ForgetShard
{
	int64		stream_id;
	int32		shard_index;
} ForgetShard;

/* A segment switch to publish when the current transaction commits */
typedef struct SegmentSwitch
{
	KinesisShardState *state;
	int16		segment;
} SegmentSwitch;

/* Changes of the current transaction applied at commit (TopMemoryContext) */
static List *pending_forgets = NIL;
static List *pending_switches = NIL;

static void stable_xact_callback(XactEvent event, void *arg);
static void wake_readers(KinesisShardState *state);
static void state_key(KinesisShardKey *key, int64 stream_id, int32 shard_index);
static KinesisShardState *find_state(int64 stream_id, int32 shard_index);
static KinesisShardState *enter_state(int64 stream_id, int32 shard_index,
									  int64 seed, int16 segment);
static void stable_release_all(void);
static void stable_on_exit(int code, Datum arg);
static void stable_apply_pending(bool commit);

PG_FUNCTION_INFO_V1(kinesis_shard_horizon);

/*
 * Shared memory needed (shmem.c asks for it at postmaster start).
 */
Size
KinesisStableShmemSize(void)
{
	Size		size;

	size = MAXALIGN(sizeof(KinesisStableShared));
	size = add_size(size, hash_estimate_size(STATE_TABLE_SIZE,
											 sizeof(KinesisShardState)));
	size = add_size(size, mul_size(mul_size(MaxBackends,
											kinesis_max_shards_per_xact),
								   sizeof(KinesisWriterNode)));
	size = add_size(size, mul_size(WAIT_SLOTS, sizeof(KinesisWaitSlot)));
	return size;
}

/*
 * Install the transaction callback; called from _PG_init.
 */
void
KinesisStableInit(void)
{
	RegisterXactCallback(stable_xact_callback, NULL);
}

/*
 * Create or attach to the shared state; called by shmem.c's startup hook
 * with AddinShmemInitLock held.
 */
void
KinesisStableShmemInit(void)
{
	HASHCTL		info;
	bool		found;

	stable_shared = ShmemInitStruct("kinesis stable",
									sizeof(KinesisStableShared), &found);
	if (!found)
	{
		stable_shared->lock = &(GetNamedLWLockTranche("kinesis"))[KINESIS_LWLOCK_SHARDS].lock;
		stable_shared->nodes_per_backend = kinesis_max_shards_per_xact;
	}

	all_nodes = ShmemInitStruct("kinesis writer nodes",
								mul_size(mul_size(MaxBackends,
												  kinesis_max_shards_per_xact),
										 sizeof(KinesisWriterNode)),
								&found);

	wait_slots = ShmemInitStruct("kinesis wait slots",
								 mul_size(WAIT_SLOTS, sizeof(KinesisWaitSlot)), &found);
	if (!found)
	{
		int			i;

		for (i = 0; i < WAIT_SLOTS; i++)
		{
			ConditionVariableInit(&wait_slots[i].cv);
			pg_atomic_init_u32(&wait_slots[i].waiters, 0);
		}
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(KinesisShardKey);
	info.entrysize = sizeof(KinesisShardState);
	shard_states = ShmemInitHash("kinesis shard states",
								 STATE_TABLE_SIZE, STATE_TABLE_SIZE,
								 &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * The largest counter physically present in one segment partition,
 * committed or not, or 0 when it is empty.
 */
static int64
segment_max_counter(Oid relid)
{
	Relation	heap = table_open(relid, AccessShareLock);
	Oid			indexid = RelationGetPrimaryKeyIndex(heap);
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int64		result = 0;

	if (!OidIsValid(indexid))
		elog(ERROR, "stream table \"%s\" has no primary key",
			 RelationGetRelationName(heap));
	index = index_open(indexid, AccessShareLock);
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, SnapshotAny, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;

		result = DatumGetInt64(slot_getattr(slot, 1, &isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return result;
}

/*
 * The largest counter physically present in any segment of a shard.  The
 * segments are looked up by name, not through a possibly older cache.
 */
static int64
shard_max_counter(KinesisStream *stream, KinesisShard *shard)
{
	Oid			nspid = KinesisDataNamespace();
	int64		result = 0;
	int16		segment;

	AcceptInvalidationMessages();
	for (segment = 0; segment < KINESIS_SEGMENTS; segment++)
	{
		Oid			relid;

		relid = get_relname_relid(KinesisSegmentTableName(stream->stream_id,
														   shard->shard_index,
														   segment),
								  nspid);
		if (OidIsValid(relid))
			result = Max(result, segment_max_counter(relid));
	}
	return result;
}

/*
 * Make shard->state point at the shard's shared state, creating and
 * seeding it when this is its first use since the server started.  The
 * caller holds a lock on the shard's table and has checked that the
 * stream's cache entry is valid.
 */
void
KinesisStableAttach(KinesisStream *stream, KinesisShard *shard)
{
	int64		seed;

	if (shard->state != NULL)
		return;
	shard->state = find_state(stream->stream_id, shard->shard_index);
	if (shard->state != NULL)
		return;

	/* nobody allocates in this shard before the state exists */
	seed = Max(shard_max_counter(stream, shard) + 1,
			   GetCurrentTimestamp() + UNIX_TO_PG_USECS +
			   KINESIS_SEED_MARGIN_USECS);
	shard->state = enter_state(stream->stream_id, shard->shard_index, seed,
							   shard->catalog_segment);
}

/*
 * The shared state of the stream itself, which counts its call metrics.
 */
KinesisShardState *
KinesisStableStreamState(KinesisStream *stream)
{
	if (stream->state == NULL)
		stream->state = find_state(stream->stream_id, KINESIS_STREAM_STATE);
	if (stream->state == NULL)
		stream->state = enter_state(stream->stream_id, KINESIS_STREAM_STATE, 0, 0);
	return stream->state;
}

/*
 * The shared state of a shard when some backend created it, else NULL;
 * unlike KinesisStableAttach, never creates one.
 */
KinesisShardState *
KinesisStableFind(KinesisStream *stream, KinesisShard *shard)
{
	if (shard->state == NULL)
		shard->state = find_state(stream->stream_id, shard->shard_index);
	return shard->state;
}

static KinesisWaitSlot *
wait_slot(KinesisShardKey *key)
{
	return &wait_slots[hash_bytes((const unsigned char *) key,
								  sizeof(KinesisShardKey)) % WAIT_SLOTS];
}

/* The slot that any commit on a stream of this database wakes */
static KinesisWaitSlot *
stream_wait_slot(int64 stream_id)
{
	KinesisShardKey key;

	state_key(&key, stream_id, KINESIS_STREAM_STATE);
	return wait_slot(&key);
}

static void
wait_begin(KinesisWaitSlot *slot)
{
	pg_atomic_fetch_add_u32(&slot->waiters, 1);
	ConditionVariablePrepareToSleep(&slot->cv);
}

/*
 * Wake the readers waiting on a shard whose writer just ended.  The barrier
 * orders the writer's unlinking before its look at the waiters: a reader
 * counts itself before it computes the bound, so either it sees the
 * writer gone or the writer sees it waiting.
 */
static void
wake_readers(KinesisShardState *state)
{
	KinesisWaitSlot *slot = wait_slot(&state->key);
	KinesisWaitSlot *stream_slot = stream_wait_slot(state->key.stream_id);

	pg_memory_barrier();
	if (pg_atomic_read_u32(&slot->waiters) > 0)
		ConditionVariableBroadcast(&slot->cv);
	if (pg_atomic_read_u32(&stream_slot->waiters) > 0)
		ConditionVariableBroadcast(&stream_slot->cv);
}

/*
 * Announce a wait for new records of an attached shard; call before
 * computing the read bound.
 */
KinesisWaitSlot *
KinesisStableWaitBegin(KinesisShard *shard)
{
	KinesisWaitSlot *slot = wait_slot(&shard->state->key);

	wait_begin(slot);
	return slot;
}

/*
 * The same for new records in any shard of a stream.
 */
KinesisWaitSlot *
KinesisStableWaitBeginStream(KinesisStream *stream)
{
	KinesisWaitSlot *slot = stream_wait_slot(stream->stream_id);

	wait_begin(slot);
	return slot;
}

/*
 * Sleep until a writer of a shard of the slot ends, or timeout_ms pass.
 */
void
KinesisStableWaitSleep(KinesisWaitSlot *slot, long timeout_ms)
{
	PG_TRY();
	{
		(void) ConditionVariableTimedSleep(&slot->cv, timeout_ms, PG_WAIT_EXTENSION);
	}
	PG_CATCH();
	{
		KinesisStableWaitEnd(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * End a wait begun with KinesisStableWaitBegin.
 */
void
KinesisStableWaitEnd(KinesisWaitSlot *slot)
{
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&slot->waiters, 1);
}

static void
state_key(KinesisShardKey *key, int64 stream_id, int32 shard_index)
{
	memset(key, 0, sizeof(*key));
	key->dboid = MyDatabaseId;
	key->stream_id = stream_id;
	key->shard_index = shard_index;
}

/*
 * The shared state of a shard or stream of this database, or NULL.
 */
static KinesisShardState *
find_state(int64 stream_id, int32 shard_index)
{
	KinesisShardKey key;
	KinesisShardState *state;

	state_key(&key, stream_id, shard_index);
	LWLockAcquire(stable_shared->lock, LW_SHARED);
	state = hash_search(shard_states, &key, HASH_FIND, NULL);
	LWLockRelease(stable_shared->lock);
	return state;
}

/*
 * Create the shared state of a shard or stream, unless another backend
 * just did.  KN004 when the table is full.
 */
static KinesisShardState *
enter_state(int64 stream_id, int32 shard_index, int64 seed, int16 segment)
{
	KinesisShardKey key;
	KinesisShardState *state;
	bool		found;

	state_key(&key, stream_id, shard_index);
	LWLockAcquire(stable_shared->lock, LW_EXCLUSIVE);
	state = hash_search(shard_states, &key, HASH_ENTER_NULL, &found);
	if (state == NULL)
	{
		LWLockRelease(stable_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("too many shards in use"),
				 errdetail("The shared shard table holds at most %d shards.",
						   kinesis_max_shards),
				 errhint("Raise kinesis.max_shards and restart the server.")));
	}
	if (!found)
	{
		SpinLockInit(&state->mutex);
		state->next_counter = seed;
		state->segment = segment;
		state->last_arrival = 0;
		state->nwriters = 0;
		dlist_init(&state->writers);
		KinesisThrottleInit(state);
		KinesisMetricsInit(state);
		KinesisAutoscaleInit(state);
	}
	LWLockRelease(stable_shared->lock);
	return state;
}

/*
 * Call fn on every shared state of this database, shards and streams,
 * under the table's lock in shared mode: fn must be quick.
 */
void
KinesisStableWalk(void (*fn) (KinesisShardState *state, void *arg), void *arg)
{
	HASH_SEQ_STATUS status;
	KinesisShardState *state;

	LWLockAcquire(stable_shared->lock, LW_SHARED);
	hash_seq_init(&status, shard_states);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		if (state->key.dboid == MyDatabaseId)
			fn(state, arg);
	}
	LWLockRelease(stable_shared->lock);
}

/*
 * Remove, at once, any shared state left under a new stream's id: ids
 * start over after DROP EXTENSION, whose streams' states stay behind
 * (nobody can use them: every cache of a dropped stream was invalidated).
 */
void
KinesisStableClearStream(int64 stream_id)
{
	HASH_SEQ_STATUS status;
	KinesisShardState *state;

	LWLockAcquire(stable_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, shard_states);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		if (state->key.dboid == MyDatabaseId && state->key.stream_id == stream_id)
			hash_search(shard_states, &state->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(stable_shared->lock);
}

/*
 * This backend's registration record of state, created when missing; its
 * xact tells whether the current transaction is registered already.
 */
static WriterRegistration *
registration_of(KinesisShardState *state)
{
	bool		found;
	WriterRegistration *reg;

	if (my_registrations == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(KinesisShardState *);
		ctl.entrysize = sizeof(WriterRegistration);
		my_registrations = hash_create("kinesis writer registrations", 64,
									   &ctl, HASH_ELEM | HASH_BLOBS);
	}
	reg = hash_search(my_registrations, &state, HASH_ENTER, &found);
	if (!found)
		reg->xact = 0;
	return reg;
}

/*
 * Allocate count consecutive counters in a shard, all greater than
 * min_counter, and register this transaction as a writer of the shard
 * unless it already is.  Returns the first counter and, in *segment, the
 * segment the records belong in.  The caller holds RowExclusiveLock on the
 * shard's table and inserts the records before its transaction ends.
 */
int64
KinesisStableAllocate(KinesisShard *shard, int count, int64 min_counter,
					  TimestampTz arrival, int16 *segment)
{
	KinesisShardState *state = shard->state;
	KinesisWriterNode *node = NULL;
	WriterRegistration *reg = NULL;
	int64		clock = arrival + UNIX_TO_PG_USECS;
	int64		first;

	Assert(state != NULL && count > 0);

	if (shard->writer_xact != my_xact_number)
	{
		reg = registration_of(state);
		if (reg->xact == my_xact_number)
			shard->writer_xact = my_xact_number;	/* cache was rebuilt */
	}
	if (shard->writer_xact != my_xact_number)
	{
		if (my_nodes == NULL)
		{
			if (MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
				elog(ERROR, "kinesis writer without a backend id");
			my_nodes = all_nodes +
				(Size) (MyBackendId - 1) * stable_shared->nodes_per_backend;
			on_shmem_exit(stable_on_exit, (Datum) 0);
		}
		if (my_nused >= stable_shared->nodes_per_backend)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
					 errmsg("transaction writes to too many shards"),
					 errdetail("One transaction can write to at most %d shards.",
							   stable_shared->nodes_per_backend),
					 errhint("Write fewer shards per transaction, or raise kinesis.max_shards_per_transaction and restart the server.")));
		node = &my_nodes[my_nused];
		node->shard = state;
		node->pid = MyProcPid;
		node->since = arrival;
	}

	SpinLockAcquire(&state->mutex);
	first = Max(state->next_counter, clock);
	if (first <= min_counter)
		first = min_counter + 1;
	state->next_counter = first + count;
	state->last_arrival = arrival;
	*segment = state->segment;
	if (node != NULL)
	{
		node->first_counter = first;
		dlist_push_tail(&state->writers, &node->link);
		state->nwriters++;
	}
	SpinLockRelease(&state->mutex);

	if (node != NULL)
	{
		my_nused++;
		shard->writer_xact = my_xact_number;
		reg->xact = my_xact_number;
	}
	if (first > KINESIS_MAX_COUNTER - count)
		elog(ERROR, "sequence counter of shard %d overflowed", shard->shard_index);
	return first;
}

/*
 * The read bound of a shard: every counter below it is final.  *tip is set
 * to the arrival time of the newest allocation and *next_counter to the
 * next counter to hand out (equal to the bound when nobody is in flight).
 * Take the scan snapshot only after this returns.
 */
int64
KinesisStableBound(KinesisShard *shard, TimestampTz *tip, int64 *next_counter)
{
	KinesisShardState *state = shard->state;
	int64		bound;

	Assert(state != NULL);
	SpinLockAcquire(&state->mutex);
	if (dlist_is_empty(&state->writers))
		bound = state->next_counter;
	else
		bound = dlist_head_element(KinesisWriterNode, link,
								   &state->writers)->first_counter;
	*tip = state->last_arrival;
	*next_counter = state->next_counter;
	SpinLockRelease(&state->mutex);
	return bound;
}

/*
 * The next counter the shard will hand out: every number of the shard
 * ever given to a writer is below it.
 */
int64
KinesisStableNextCounter(KinesisShard *shard)
{
	int64		next;

	SpinLockAcquire(&shard->state->mutex);
	next = shard->state->next_counter;
	SpinLockRelease(&shard->state->mutex);
	return next;
}

/*
 * Unlink every writer node of this backend.
 */
static void
stable_release_all(void)
{
	int			i;

	for (i = 0; i < my_nused; i++)
	{
		KinesisWriterNode *node = &my_nodes[i];
		KinesisShardState *state = node->shard;

		SpinLockAcquire(&state->mutex);
		dlist_delete(&node->link);
		state->nwriters--;
		SpinLockRelease(&state->mutex);
		wake_readers(state);
	}
	my_nused = 0;
}

static void
stable_on_exit(int code, Datum arg)
{
	stable_release_all();
}

/*
 * Transaction callback.  COMMIT and ABORT run after the transaction left
 * the proc array, which is what makes unregistering here safe.
 */
static void
stable_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (my_nused > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that wrote to a stream"),
						 errdetail("A prepared transaction would hold back every reader of the shards it wrote.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			stable_release_all();
			stable_apply_pending(true);
			my_xact_number++;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			stable_release_all();
			stable_apply_pending(false);
			my_xact_number++;
			break;
		default:
			break;
	}
}

/*
 * Remember that the current transaction deleted a stream: its shard states
 * are removed when the transaction commits.
 */
void
KinesisStableForgetStream(int64 stream_id)
{
	KinesisStableForgetShard(stream_id, -1);
}

/*
 * Remember that the current transaction removed a shard's tables: its
 * state is removed when the transaction commits.
 */
void
KinesisStableForgetShard(int64 stream_id, int32 shard_index)
{
	ForgetShard *forget = MemoryContextAlloc(TopMemoryContext, sizeof(ForgetShard));
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	forget->stream_id = stream_id;
	forget->shard_index = shard_index;
	pending_forgets = lappend(pending_forgets, forget);
	MemoryContextSwitchTo(old);
}

/*
 * Make segment the one new records of a shard go to, when the current
 * transaction commits.  The caller holds a lock on the shard's table that
 * keeps writers out until then (maintenance.c).
 */
void
KinesisStableSwitchSegment(KinesisStream *stream, KinesisShard *shard,
						   int16 segment)
{
	SegmentSwitch *sw = MemoryContextAlloc(TopMemoryContext, sizeof(SegmentSwitch));
	MemoryContext old;

	KinesisStableAttach(stream, shard);
	sw->state = shard->state;
	sw->segment = segment;
	old = MemoryContextSwitchTo(TopMemoryContext);
	pending_switches = lappend(pending_switches, sw);
	MemoryContextSwitchTo(old);
}

/*
 * Whether a shard state is one of the forgotten shards.
 */
static bool
is_forgotten(KinesisShardState *state)
{
	ListCell   *lc;

	foreach(lc, pending_forgets)
	{
		ForgetShard *forget = lfirst(lc);

		if (forget->stream_id == state->key.stream_id &&
			(forget->shard_index < 0 || forget->shard_index == state->key.shard_index))
			return true;
	}
	return false;
}

/*
 * Apply (on commit) or drop (on abort) the transaction's pending segment
 * switches and removals of shard states.
 */
static void
stable_apply_pending(bool commit)
{
	ListCell   *lc;

	if (commit && pending_switches != NIL)
	{
		foreach(lc, pending_switches)
		{
			SegmentSwitch *sw = lfirst(lc);

			SpinLockAcquire(&sw->state->mutex);
			sw->state->segment = sw->segment;
			SpinLockRelease(&sw->state->mutex);
		}
	}
	if (commit && pending_forgets != NIL && stable_shared != NULL)
	{
		HASH_SEQ_STATUS status;
		KinesisShardState *state;

		LWLockAcquire(stable_shared->lock, LW_EXCLUSIVE);
		hash_seq_init(&status, shard_states);
		while ((state = hash_seq_search(&status)) != NULL)
		{
			if (state->key.dboid == MyDatabaseId && is_forgotten(state))
				hash_search(shard_states, &state->key, HASH_REMOVE, NULL);
		}
		LWLockRelease(stable_shared->lock);
	}
	list_free_deep(pending_switches);
	pending_switches = NIL;
	list_free_deep(pending_forgets);
	pending_forgets = NIL;
}

/*
 * kinesis.shard_horizon(): one row per shard of this database that has
 * shared state: the read bound, the number of in-flight writers and the
 * oldest of them, the one holding readers back.
 */
Datum
kinesis_shard_horizon(PG_FUNCTION_ARGS)
{
#define SHARD_HORIZON_COLS 8
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	KinesisShardState *state;

	kinesis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(stable_shared->lock, LW_SHARED);
	hash_seq_init(&status, shard_states);
	while ((state = hash_seq_search(&status)) != NULL)
	{
		Datum		values[SHARD_HORIZON_COLS];
		bool		nulls[SHARD_HORIZON_COLS];
		int64		next_counter;
		int64		bound;
		TimestampTz tip;
		int			nwriters;
		int			oldest_pid = 0;
		TimestampTz oldest_since = 0;

		if (state->key.dboid != MyDatabaseId ||
			state->key.shard_index == KINESIS_STREAM_STATE)
			continue;

		SpinLockAcquire(&state->mutex);
		next_counter = state->next_counter;
		tip = state->last_arrival;
		nwriters = state->nwriters;
		bound = next_counter;
		if (!dlist_is_empty(&state->writers))
		{
			KinesisWriterNode *oldest;

			oldest = dlist_head_element(KinesisWriterNode, link,
										&state->writers);
			bound = oldest->first_counter;
			oldest_pid = oldest->pid;
			oldest_since = oldest->since;
		}
		SpinLockRelease(&state->mutex);

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int64GetDatum(state->key.stream_id);
		values[1] = Int32GetDatum(state->key.shard_index);
		values[2] = Int64GetDatum(next_counter);
		values[3] = Int64GetDatum(bound);
		values[4] = TimestampTzGetDatum(tip);
		nulls[4] = (tip == 0);
		values[5] = Int32GetDatum(nwriters);
		values[6] = Int32GetDatum(oldest_pid);
		nulls[6] = (nwriters == 0);
		values[7] = TimestampTzGetDatum(oldest_since);
		nulls[7] = (nwriters == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stable_shared->lock);
	return (Datum) 0;
}
