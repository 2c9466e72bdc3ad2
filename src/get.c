/*-------------------------------------------------------------------------
 *
 * get.c
 *	  The read path: get_shard_iterator, get_records and read_records.
 *
 * Every read of a shard follows the never-skip protocol of stable.c:
 * lock the shard's table, compute the shard's read bound (every counter
 * below it is final), THEN take a fresh snapshot and scan the primary key
 * for counters in (position, bound).  The scan snapshot is always the
 * latest one, whatever the isolation level, because a snapshot older than
 * the bound could miss a record committed in between; stream records are
 * immutable, so this only means a reader sees records committed after its
 * transaction started, like nextval sees other transactions' calls.
 * When a read returns fewer records than asked for, everything up to the
 * bound has been seen and the next position is bound - 1, so readers
 * move past aborted and unused numbers without waiting.
 *
 * Records older than the stream's retention are skipped (physical trimming
 * is the worker's job).  No SPI and no SQL text on this path.
 *
 * Processes: client backends.  Locks: AccessShareLock on the shard's
 * table and its primary key index; the shard state's spinlock (stable.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "kinesis.h"

PG_FUNCTION_INFO_V1(kinesis_get_shard_iterator);
PG_FUNCTION_INFO_V1(kinesis_get_records);
PG_FUNCTION_INFO_V1(kinesis_read_records);

/* Columns of kinesis.record */
#define RECORD_NCOLS		4

/* Microseconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* What a read needs to know about its shard, copied out of the cache */
typedef struct ReadTarget
{
	KinesisShard shard;			/* copy of the cached shard */
	TimestampTz cutoff;			/* records that arrived earlier expired */
	int64		bound;			/* counters below are final */
	bool		drained;		/* closed shard without in-flight writers */
	TimestampTz tip;			/* arrival of the newest allocation */
} ReadTarget;

/* An open scan of a shard's primary key */
typedef struct ShardScan
{
	Relation	heap;
	Relation	index;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	TimestampTz cutoff;
} ShardScan;

/* Types of iterator requests */
typedef enum IteratorType
{
	ITER_AT_SEQUENCE_NUMBER,
	ITER_AFTER_SEQUENCE_NUMBER,
	ITER_TRIM_HORIZON,
	ITER_LATEST,
	ITER_AT_TIMESTAMP
} IteratorType;

static const char *const iterator_type_names[] = {
	"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON",
	"LATEST", "AT_TIMESTAMP"
};

static void shard_scan_begin(ShardScan *s, const ReadTarget *target, int64 after);
static bool shard_scan_next(ShardScan *s);
static void shard_scan_end(ShardScan *s);

static void
refuse_during_recovery(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read streams during recovery"),
				 errdetail("The in-flight writer registry that orders reads exists only on the primary.")));
}

/*
 * Find a readable shard and lock its table; on return the stream's cache
 * entry is valid and the shard's shared state attached.  expected_id, when
 * not zero, is the stream id an iterator was issued for.
 */
static void
open_shard(const char *name, int32 index, const char *shard_id,
		   int64 expected_id, TimestampTz expected_created,
		   KinesisStream **stream_out, KinesisShard **shard_out)
{
	KinesisStream *stream;
	KinesisShard *shard;

	refuse_during_recovery();
	do
	{
		stream = KinesisStreamLookup(name, expected_id != 0);
		if (stream == NULL || (expected_id != 0 &&
							   (stream->stream_id != expected_id ||
								stream->created_at != expected_created)))
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("shard iterator refers to a stream that no longer exists"),
					 errdetail("Stream \"%s\" was deleted or re-created after the iterator was issued.",
							   name)));
		shard = shard_id ? KinesisShardLookup(stream, shard_id) :
			KinesisShardByIndex(stream, index);
		if (shard == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("shard \"%s\" does not exist in stream \"%s\"",
							KinesisShardIdString(index), name)));
		KinesisCheckStreamPrivilege(stream, ACL_SELECT);
	} while (!KinesisLockShard(stream, shard, AccessShareLock));

	KinesisStableAttach(stream, shard);
	*stream_out = stream;
	*shard_out = shard;
}

/*
 * Compute the read bound of a locked shard into target, with the copy of
 * the shard and the retention cutoff.
 */
static void
read_target(KinesisStream *stream, KinesisShard *shard, ReadTarget *target)
{
	int64		next_counter;

	target->shard = *shard;
	target->cutoff = KinesisNow() -
		(TimestampTz) stream->retention_hours * USECS_PER_HOUR;
	target->bound = KinesisStableBound(shard, &target->tip, &next_counter);
	target->drained = shard->close_secs >= 0 && target->bound == next_counter;
}

/*
 * Decode a sequence number given for shard; KN003 unless it is a valid
 * number of that very shard.
 */
static int64
shard_counter(Datum seqnum, KinesisStream *stream, KinesisShard *shard,
			  const char *argname)
{
	KinesisSeqNo seq;
	char	   *str;

	if (KinesisSeqNoFromNumeric(seqnum, &seq) &&
		seq.shard_index == shard->shard_index &&
		seq.create_secs == shard->create_secs)
		return seq.counter;

	str = DatumGetCString(DirectFunctionCall1(numeric_out, seqnum));
	if (!KinesisSeqNoFromNumeric(seqnum, &seq))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("invalid %s %s", argname, str)));
	if (seq.shard_index != shard->shard_index)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("%s %s belongs to shard \"%s\", not to shard \"%s\"",
						argname, str, KinesisShardIdString(seq.shard_index),
						KinesisShardIdString(shard->shard_index))));
	ereport(ERROR,
			(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
			 errmsg("%s %s did not come from stream \"%s\"",
					argname, str, stream->name),
			 errdetail("It belongs to an earlier stream or shard of the same name.")));
	return 0;
}

/*
 * Check the argument mix of get_shard_iterator; KN003 when it is wrong.
 */
static IteratorType
iterator_type_arg(FunctionCallInfo fcinfo)
{
	char	   *name;
	int			i;
	bool		wants_seq,
				wants_ts;

	KinesisRequireArg(fcinfo, 2, "shard_iterator_type");
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	for (i = 0; i < (int) lengthof(iterator_type_names); i++)
	{
		if (strcmp(name, iterator_type_names[i]) == 0)
			break;
	}
	if (i == (int) lengthof(iterator_type_names))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("invalid shard iterator type \"%s\"", name),
				 errhint("The type is AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST or AT_TIMESTAMP.")));

	wants_seq = (i == ITER_AT_SEQUENCE_NUMBER || i == ITER_AFTER_SEQUENCE_NUMBER);
	wants_ts = (i == ITER_AT_TIMESTAMP);
	if (wants_seq == PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 wants_seq ?
				 errmsg("iterator type %s requires a starting sequence number", name) :
				 errmsg("iterator type %s does not take a starting sequence number", name)));
	if (wants_ts == PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 wants_ts ?
				 errmsg("iterator type %s requires a timestamp", name) :
				 errmsg("iterator type %s does not take a timestamp", name)));
	if (wants_ts && PG_GETARG_TIMESTAMPTZ(4) > KinesisNow())
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("timestamp %s is in the future",
						timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(4)))));
	return (IteratorType) i;
}

/*
 * The position before the first record that arrived at or after ts.  A
 * record's counter is at least its arrival time in Unix microseconds, so
 * the search starts there and skips the few records whose counters ran
 * ahead of the clock.  When no such record is below the bound, the
 * position is the bound: later records arrive after ts.
 */
static int64
at_timestamp_position(const ReadTarget *target, TimestampTz ts)
{
	ShardScan	scan;
	int64		after = Max(ts + UNIX_TO_PG_USECS - 1, -1);
	int64		result = Max(after, target->bound - 1);

	shard_scan_begin(&scan, target, after);
	while (shard_scan_next(&scan))
	{
		if (DatumGetTimestampTz(scan.slot->tts_values[1]) >= ts)
		{
			result = DatumGetInt64(scan.slot->tts_values[0]) - 1;
			break;
		}
	}
	shard_scan_end(&scan);
	return result;
}

/*
 * kinesis.get_shard_iterator(stream_name, shard_id, shard_iterator_type,
 *							  starting_sequence_number, "timestamp")
 */
Datum
kinesis_get_shard_iterator(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *shard_id;
	IteratorType type;
	KinesisStream *stream;
	KinesisShard *shard;
	ReadTarget	target;
	int64		after = -1;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "shard_id");
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	type = iterator_type_arg(fcinfo);

	open_shard(name, -1, shard_id, 0, 0, &stream, &shard);

	switch (type)
	{
		case ITER_AT_SEQUENCE_NUMBER:
			after = shard_counter(PG_GETARG_DATUM(3), stream, shard,
								  "starting sequence number") - 1;
			break;
		case ITER_AFTER_SEQUENCE_NUMBER:
			after = shard_counter(PG_GETARG_DATUM(3), stream, shard,
								  "starting sequence number");
			break;
		case ITER_TRIM_HORIZON:
			after = -1;
			break;
		case ITER_LATEST:
			read_target(stream, shard, &target);
			after = target.bound - 1;
			break;
		case ITER_AT_TIMESTAMP:
			read_target(stream, shard, &target);
			after = at_timestamp_position(&target, PG_GETARG_TIMESTAMPTZ(4));
			break;
	}
	PG_RETURN_TEXT_P(KinesisIteratorEncode(stream, shard, after));
}

/*
 * Start scanning a shard's records with counters in (after, bound).
 */
static void
shard_scan_begin(ShardScan *s, const ReadTarget *target, int64 after)
{
	ScanKeyData keys[2];
	Oid			indexid;

	s->heap = table_open(target->shard.relid, NoLock);
	indexid = RelationGetPrimaryKeyIndex(s->heap);
	if (!OidIsValid(indexid))
		elog(ERROR, "stream table \"%s\" has no primary key",
			 RelationGetRelationName(s->heap));
	s->index = index_open(indexid, AccessShareLock);
	s->snapshot = RegisterSnapshot(GetLatestSnapshot());
	s->cutoff = target->cutoff;

	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(after));
	ScanKeyInit(&keys[1], 1, BTLessStrategyNumber, F_INT8LT, Int64GetDatum(target->bound));
	s->scan = index_beginscan(s->heap, s->index, s->snapshot, 2, 0);
	index_rescan(s->scan, keys, 2, NULL, 0);
	s->slot = table_slot_create(s->heap, NULL);
}

/*
 * The next unexpired record of a scan, its columns in the slot's values;
 * false at the end.
 */
static bool
shard_scan_next(ShardScan *s)
{
	while (index_getnext_slot(s->scan, ForwardScanDirection, s->slot))
	{
		slot_getallattrs(s->slot);
		if (DatumGetTimestampTz(s->slot->tts_values[1]) >= s->cutoff)
			return true;
	}
	return false;
}

static void
shard_scan_end(ShardScan *s)
{
	ExecDropSingleTupleTableSlot(s->slot);
	index_endscan(s->scan);
	UnregisterSnapshot(s->snapshot);
	index_close(s->index, AccessShareLock);
	table_close(s->heap, NoLock);
}

/*
 * A kinesis.record tuple of the scan's current record.
 */
static HeapTuple
scan_record(ShardScan *s, const KinesisShard *shard, TupleDesc desc)
{
	Datum	   *cols = s->slot->tts_values;
	Datum		values[RECORD_NCOLS];
	bool		nulls[RECORD_NCOLS] = {false, false, false, false};

	values[0] = KinesisRecordSeqNo(shard, DatumGetInt64(cols[0]),
								   DatumGetTimestampTz(cols[1]));
	values[1] = cols[1];
	values[2] = cols[4];
	values[3] = cols[3];
	return heap_form_tuple(desc, values, nulls);
}

/*
 * The child_shards value of a drained closed shard: its children with
 * their parents and hash key ranges.
 */
static Datum
child_shards_json(KinesisStream *stream, int32 parent)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < stream->nshards; i++)
	{
		KinesisShard *child = &stream->shards[i];

		if (child->parent_index != parent && child->adjacent_parent_index != parent)
			continue;
		appendStringInfo(&buf, "%s{\"shard_id\": \"%s\", \"parent_shards\": [\"%s\"",
						 first ? "" : ", ", KinesisShardIdString(child->shard_index),
						 KinesisShardIdString(child->parent_index));
		if (child->adjacent_parent_index >= 0)
			appendStringInfo(&buf, ", \"%s\"",
							 KinesisShardIdString(child->adjacent_parent_index));
		appendStringInfo(&buf, "], \"hash_key_range\": {\"starting_hash_key\": \"%s\", \"ending_hash_key\": \"%s\"}}",
						 KinesisHashKeyToString(child->start_key),
						 KinesisHashKeyToString(child->end_key));
		first = false;
	}
	appendStringInfoChar(&buf, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * kinesis.get_records(shard_iterator, "limit")
 *		RETURNS kinesis.get_records_result
 */
Datum
kinesis_get_records(PG_FUNCTION_ARGS)
{
	KinesisIterator it;
	int32		limit;
	KinesisStream *stream;
	KinesisShard *shard;
	ReadTarget	target;
	ShardScan	scan;
	TupleDesc	result_desc;
	TupleDesc	record_desc;
	Oid			record_type;
	Datum	   *records;
	int			n = 0;
	int64		bytes = 0;
	int64		after;
	TimestampTz last_arrival = 0;
	bool		complete = true;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, true};

	kinesis_check_loaded();
	KinesisRequireArg(fcinfo, 0, "shard_iterator");
	limit = KinesisLimitArg(fcinfo, 1);
	KinesisIteratorDecode(PG_GETARG_TEXT_PP(0), &it);

	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "get_records must return a composite type");
	record_type = get_element_type(TupleDescAttr(result_desc, 0)->atttypid);
	record_desc = lookup_rowtype_tupdesc_copy(record_type, -1);

	open_shard(it.stream_name, it.shard_index, NULL, it.stream_id,
			   it.stream_created_at, &stream, &shard);
	read_target(stream, shard, &target);

	after = it.after_counter;
	records = palloc(sizeof(Datum) * limit);
	shard_scan_begin(&scan, &target, after);
	while (n < limit)
	{
		int64		size;

		if (!shard_scan_next(&scan))
			break;
		size = toast_raw_datum_size(scan.slot->tts_values[4]);
		if (n > 0 && bytes + size > KINESIS_MAX_GET_BYTES)
		{
			complete = false;
			break;
		}
		bytes += size;
		records[n++] = HeapTupleGetDatum(scan_record(&scan, shard, record_desc));
		after = DatumGetInt64(scan.slot->tts_values[0]);
		last_arrival = DatumGetTimestampTz(scan.slot->tts_values[1]);
	}
	if (n == limit)
		complete = false;
	shard_scan_end(&scan);

	/* everything below the bound was seen: move past gaps to bound - 1 */
	if (complete)
		after = Max(after, target.bound - 1);

	values[0] = PointerGetDatum(construct_array(records, n, record_type, -1, false,
												TYPALIGN_DOUBLE));
	if (complete && target.drained)
	{
		nulls[1] = true;
		nulls[3] = false;
		values[3] = child_shards_json(stream, shard->shard_index);
	}
	else
		values[1] = PointerGetDatum(KinesisIteratorEncode(stream, shard, after));
	values[2] = Int64GetDatum(complete ? 0 :
							  Max(target.tip - last_arrival, 0) / 1000);

	result_desc = BlessTupleDesc(result_desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, values, nulls)));
}

/* State of a read_records call across its rows */
typedef struct ReadRecordsState
{
	ReadTarget	target;
	ShardScan	scan;
	bool		open;
	int32		limit;
	int32		returned;
} ReadRecordsState;

static void
read_records_shutdown(Datum arg)
{
	ReadRecordsState *state = (ReadRecordsState *) DatumGetPointer(arg);

	if (state->open)
		shard_scan_end(&state->scan);
	state->open = false;
}

/*
 * Set up a read_records call: validate, lock, bound, open the scan.
 */
static ReadRecordsState *
read_records_begin(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ReadRecordsState *state = palloc0(sizeof(ReadRecordsState));
	char	   *name;
	char	   *shard_id;
	KinesisStream *stream;
	KinesisShard *shard;
	int64		after = -1;

	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "shard_id");
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	state->limit = KinesisLimitArg(fcinfo, 3);

	open_shard(name, -1, shard_id, 0, 0, &stream, &shard);
	if (!PG_ARGISNULL(2))
		after = shard_counter(PG_GETARG_DATUM(2), stream, shard,
							  "after sequence number");
	read_target(stream, shard, &state->target);
	shard_scan_begin(&state->scan, &state->target, after);
	state->open = true;
	RegisterExprContextCallback(rsinfo->econtext, read_records_shutdown,
								PointerGetDatum(state));
	return state;
}

/*
 * Advance the scan of a read_records call.  The index scan lives across
 * calls, so it must run in the multi-call context: the per-call context is
 * reset between rows, and the index AM may allocate state lazily (btree's
 * killed-items array, for one) that has to survive.
 */
static bool
read_records_next(ReadRecordsState *state, MemoryContext scan_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(scan_cxt);
	bool		found = shard_scan_next(&state->scan);

	MemoryContextSwitchTo(old);
	return found;
}

/*
 * kinesis.read_records(stream_name, shard_id, after_sequence_number, "limit")
 *		RETURNS SETOF kinesis.record
 */
Datum
kinesis_read_records(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ReadRecordsState *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	desc;

		kinesis_check_loaded();
		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "read_records must return a composite type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		funcctx->user_fctx = read_records_begin(fcinfo);
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	state = (ReadRecordsState *) funcctx->user_fctx;

	if (state->open && state->returned < state->limit &&
		read_records_next(state, funcctx->multi_call_memory_ctx))
	{
		HeapTuple	tuple = scan_record(&state->scan, &state->target.shard,
										funcctx->tuple_desc);

		state->returned++;
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(tuple));
	}
	read_records_shutdown(PointerGetDatum(state));
	SRF_RETURN_DONE(funcctx);
}
