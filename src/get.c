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
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "kinesis.h"

PG_FUNCTION_INFO_V1(kinesis_get_shard_iterator);
PG_FUNCTION_INFO_V1(kinesis_get_records);
PG_FUNCTION_INFO_V1(kinesis_subscribe_to_shard);
PG_FUNCTION_INFO_V1(kinesis_read_records);

/* Columns of kinesis.record */
#define RECORD_NCOLS		4

/* Memory for the rows of one read_records call before they spill */
#define KINESIS_READ_MEMORY_KB	(64 * 1024)

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

/* An open scan of one segment's primary key */
typedef struct SegmentScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		has_row;		/* slot holds the segment's next record */
} SegmentScan;

/*
 * An open scan of a shard: its segments' primary keys merged by counter.
 * (Segments hold disjoint counter ranges; merging keeps the order right
 * without relying on what the cache knows of them.)
 */
typedef struct ShardScan
{
	Snapshot	snapshot;
	TimestampTz cutoff;
	int			nsegments;
	SegmentScan segments[KINESIS_SEGMENTS];
	TupleTableSlot *slot;		/* the current record: a segment's slot */
	KinesisSeqNoEncoder encoder;	/* numbers of the records returned */
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
static void shard_scan_end(ShardScan *s, bool keep_locks);

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
	} while (!KinesisLockShard(stream, shard, RowShareLock));

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
int64
KinesisShardCounter(Datum seqnum, KinesisStream *stream, KinesisShard *shard,
			  const char *argname)
{
	KinesisSeqNo seq;
	char	   *str;

	if (KinesisSeqNoFromNumeric(seqnum, &seq) &&
		seq.shard_index == shard->shard_index &&
		seq.create_secs == shard->create_secs)
	{
		/* a closed shard's ending number is the one valid number beyond */
		if (seq.counter < KinesisStableNextCounter(shard) ||
			(shard->close_secs >= 0 && seq.counter == KINESIS_MAX_COUNTER))
			return seq.counter;
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("%s %s was never handed out by shard \"%s\"",
						argname, DatumGetCString(DirectFunctionCall1(numeric_out, seqnum)),
						KinesisShardIdString(shard->shard_index)),
				 errdetail("It lies beyond the shard's newest sequence number.")));
	}

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
 * The position type at argno, with the starting sequence number and the
 * timestamp in the next two arguments; KN003 when the mix is wrong.
 */
static IteratorType
iterator_type_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *name;
	int			i;
	bool		wants_seq,
				wants_ts;
	int			seq_arg = argno + 1;
	int			ts_arg = argno + 2;

	KinesisRequireArg(fcinfo, argno, argname);
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	i = KinesisEnumValue(name, iterator_type_names,
						 lengthof(iterator_type_names), "shard iterator type");

	wants_seq = (i == ITER_AT_SEQUENCE_NUMBER || i == ITER_AFTER_SEQUENCE_NUMBER);
	wants_ts = (i == ITER_AT_TIMESTAMP);
	if (wants_seq == PG_ARGISNULL(seq_arg))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 wants_seq ?
				 errmsg("iterator type %s requires a starting sequence number", name) :
				 errmsg("iterator type %s does not take a starting sequence number", name)));
	if (wants_ts == PG_ARGISNULL(ts_arg))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 wants_ts ?
				 errmsg("iterator type %s requires a timestamp", name) :
				 errmsg("iterator type %s does not take a timestamp", name)));
	if (wants_ts && PG_GETARG_TIMESTAMPTZ(ts_arg) > KinesisNow())
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("timestamp %s is in the future",
						timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(ts_arg)))));
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
		if (DatumGetTimestampTz(scan.slot->tts_values[REC_COL_ARRIVAL]) >= ts)
		{
			result = DatumGetInt64(scan.slot->tts_values[REC_COL_COUNTER]) - 1;
			break;
		}
	}
	shard_scan_end(&scan, false);
	return result;
}

/*
 * The counter after which a read of an opened shard starts, for a
 * position type whose starting sequence number and timestamp are the
 * arguments seq_arg and seq_arg + 1.
 */
static int64
start_position(FunctionCallInfo fcinfo, IteratorType type, int seq_arg,
			   KinesisStream *stream, KinesisShard *shard)
{
	ReadTarget	target;

	switch (type)
	{
		case ITER_AT_SEQUENCE_NUMBER:
			return KinesisShardCounter(PG_GETARG_DATUM(seq_arg), stream, shard,
								 "starting sequence number") - 1;
		case ITER_AFTER_SEQUENCE_NUMBER:
			return KinesisShardCounter(PG_GETARG_DATUM(seq_arg), stream, shard,
								 "starting sequence number");
		case ITER_TRIM_HORIZON:
			break;
		case ITER_LATEST:
			read_target(stream, shard, &target);
			return target.bound - 1;
		case ITER_AT_TIMESTAMP:
			read_target(stream, shard, &target);
			return at_timestamp_position(&target, PG_GETARG_TIMESTAMPTZ(seq_arg + 1));
	}
	return -1;
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
	int64		after;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "shard_id");
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	type = iterator_type_arg(fcinfo, 2, "shard_iterator_type");

	open_shard(name, -1, shard_id, 0, 0, &stream, &shard);
	after = start_position(fcinfo, type, 3, stream, shard);
	PG_RETURN_TEXT_P(KinesisIteratorEncode(stream, shard, after));
}

/*
 * Fetch a segment's next unexpired record into its slot.
 */
static void
segment_scan_advance(SegmentScan *seg, TimestampTz cutoff)
{
	seg->has_row = false;
	while (index_getnext_slot(seg->scan, ForwardScanDirection, seg->slot))
	{
		slot_getallattrs(seg->slot);
		if (DatumGetTimestampTz(seg->slot->tts_values[REC_COL_ARRIVAL]) >= cutoff)
		{
			seg->has_row = true;
			return;
		}
	}
}

/*
 * Start scanning a shard's records with counters in (after, bound).  The
 * caller holds RowShareLock on the shard's table, which keeps maintenance
 * from rotating its segments meanwhile.
 */
static void
shard_scan_begin(ShardScan *s, const ReadTarget *target, int64 after)
{
	ScanKeyData keys[2];
	int			i;

	s->snapshot = RegisterSnapshot(GetLatestSnapshot());
	s->cutoff = target->cutoff;
	s->nsegments = 0;
	s->slot = NULL;
	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(after));
	ScanKeyInit(&keys[1], 1, BTLessStrategyNumber, F_INT8LT, Int64GetDatum(target->bound));

	for (i = 0; i < KINESIS_SEGMENTS; i++)
	{
		SegmentScan *seg;
		Oid			indexid;

		if (!OidIsValid(target->shard.segments[i]))
			continue;
		seg = &s->segments[s->nsegments++];
		seg->heap = table_open(target->shard.segments[i], AccessShareLock);
		indexid = RelationGetPrimaryKeyIndex(seg->heap);
		if (!OidIsValid(indexid))
			elog(ERROR, "stream table \"%s\" has no primary key",
				 RelationGetRelationName(seg->heap));
		seg->index = index_open(indexid, AccessShareLock);
		seg->scan = index_beginscan(seg->heap, seg->index, s->snapshot, 2, 0);
		index_rescan(seg->scan, keys, 2, NULL, 0);
		seg->slot = table_slot_create(seg->heap, NULL);
		segment_scan_advance(seg, s->cutoff);
	}
	KinesisSeqNoEncoderInit(&s->encoder, &target->shard);
}

/*
 * The next unexpired record of a scan, in s->slot with its columns
 * deformed; false at the end.
 */
static bool
shard_scan_next(ShardScan *s)
{
	SegmentScan *next = NULL;
	int			i;

	/* the record returned last is consumed now */
	for (i = 0; i < s->nsegments; i++)
	{
		if (s->segments[i].slot == s->slot && s->segments[i].has_row)
			segment_scan_advance(&s->segments[i], s->cutoff);
	}
	for (i = 0; i < s->nsegments; i++)
	{
		SegmentScan *seg = &s->segments[i];

		if (seg->has_row &&
			(next == NULL ||
			 DatumGetInt64(seg->slot->tts_values[REC_COL_COUNTER]) <
			 DatumGetInt64(next->slot->tts_values[REC_COL_COUNTER])))
			next = seg;
	}
	s->slot = next ? next->slot : NULL;
	return next != NULL;
}

/*
 * End a scan.  keep_locks keeps the segments locked to the end of the
 * transaction, for results that still point into them (TOASTed values of
 * read_records); copied results let go at once, so that a rotation does
 * not wait for a long or sleeping reader.
 */
static void
shard_scan_end(ShardScan *s, bool keep_locks)
{
	int			i;

	for (i = 0; i < s->nsegments; i++)
	{
		SegmentScan *seg = &s->segments[i];

		ExecDropSingleTupleTableSlot(seg->slot);
		index_endscan(seg->scan);
		index_close(seg->index, AccessShareLock);
		table_close(seg->heap, keep_locks ? NoLock : AccessShareLock);
	}
	UnregisterSnapshot(s->snapshot);
}

/*
 * The kinesis.record columns of the scan's current record.  The sequence
 * number is built in *seqbuf.  With flatten, values kept out of line in
 * TOAST are fetched, as composite values require.
 */
static void
record_values(ShardScan *s, Datum *values, KinesisNumericBuf *seqbuf,
			  bool flatten)
{
	Datum	   *cols = s->slot->tts_values;

	values[0] = KinesisSeqNoEncode(&s->encoder, DatumGetInt64(cols[REC_COL_COUNTER]),
								   DatumGetTimestampTz(cols[REC_COL_ARRIVAL]), seqbuf);
	values[1] = cols[REC_COL_ARRIVAL];
	values[2] = cols[REC_COL_DATA];
	values[3] = cols[REC_COL_KEY];
	if (flatten)
	{
		if (VARATT_IS_EXTERNAL(DatumGetPointer(values[2])))
			values[2] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(values[2])));
		if (VARATT_IS_EXTERNAL(DatumGetPointer(values[3])))
			values[3] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(values[3])));
	}
}

/*
 * Whether any of a row's values is NULL.
 */
static bool
row_has_null(TupleDesc desc, bool *nulls)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		if (nulls[i])
			return true;
	}
	return false;
}

/*
 * Size of the composite datum of a row, and of its header.
 */
static Size
composite_size(TupleDesc desc, Datum *values, bool *nulls, Size *hoff)
{
	*hoff = MAXALIGN(SizeofHeapTupleHeader +
					 (row_has_null(desc, nulls) ? BITMAPLEN(desc->natts) : 0));
	return *hoff + heap_compute_data_size(desc, values, nulls);
}

/*
 * Write the composite datum of a row at dst, which has room for the size
 * composite_size returned (as heap_form_tuple does, in place).
 */
static void
composite_fill(char *dst, Size len, Size hoff, TupleDesc desc,
			   Datum *values, bool *nulls)
{
	HeapTupleHeader td = (HeapTupleHeader) dst;

	memset(dst, 0, len);
	HeapTupleHeaderSetNatts(td, desc->natts);
	td->t_hoff = hoff;
	heap_fill_tuple(desc, values, nulls, dst + hoff, len - hoff, &td->t_infomask,
					row_has_null(desc, nulls) ? td->t_bits : NULL);
#ifdef HEAP_IS_DATUM
	/* minor releases from 15.18 on version composite datums */
	heap_tuple_set_datum(td, desc, len);
#else
	HeapTupleHeaderSetDatumLength(td, len);
	HeapTupleHeaderSetTypeId(td, desc->tdtypeid);
	HeapTupleHeaderSetTypMod(td, desc->tdtypmod);
#endif
}

/*
 * An array of composite records being built in place, in the result arena
 * while it fits (buffer.c), else in the owner context.
 */
typedef struct RecordArray
{
	char	   *buf;			/* the ArrayType */
	Size		cap;
	Size		len;
	bool		in_arena;
	MemoryContext owner;
	int			n;
} RecordArray;

static void
record_array_begin(RecordArray *a, MemoryContext owner)
{
	a->owner = owner;
	a->buf = KinesisArenaOpen(owner, &a->cap);
	a->in_arena = (a->buf != NULL && a->cap >= ARR_OVERHEAD_NONULLS(1));
	if (!a->in_arena)
	{
		a->cap = 1024 * 1024;
		a->buf = MemoryContextAllocHuge(owner, a->cap);
	}
	a->len = ARR_OVERHEAD_NONULLS(1);
	a->n = 0;
}

/*
 * Room for size more bytes; moves the array to the owner context when the
 * arena is too small.
 */
static char *
record_array_reserve(RecordArray *a, Size size)
{
	if (a->len + size > a->cap)
	{
		Size		cap = Max(a->cap * 2, a->len + size);
		char	   *buf = MemoryContextAllocHuge(a->owner, cap);

		memcpy(buf, a->buf, a->len);
		if (!a->in_arena)
			pfree(a->buf);
		a->buf = buf;
		a->cap = cap;
		a->in_arena = false;
	}
	return a->buf + a->len;
}

static void
record_array_add(RecordArray *a, TupleDesc desc, Datum *values)
{
	bool		nulls[RECORD_NCOLS] = {false, false, false, false};
	Size		hoff;
	Size		len = composite_size(desc, values, nulls, &hoff);

	/* elements of a composite array are aligned to 'd', i.e. MAXALIGN */
	composite_fill(record_array_reserve(a, MAXALIGN(len)), len, hoff, desc,
				   values, nulls);
	a->len += MAXALIGN(len);
	a->n++;
}

static Datum
record_array_finish(RecordArray *a, Oid elemtype)
{
	ArrayType  *array = (ArrayType *) a->buf;

	if (a->n == 0)
		return PointerGetDatum(construct_empty_array(elemtype));
	SET_VARSIZE(array, a->len);
	array->ndim = 1;
	array->dataoffset = 0;
	array->elemtype = elemtype;
	ARR_DIMS(array)[0] = a->n;
	ARR_LBOUND(array)[0] = 1;
	if (a->in_arena)
		KinesisArenaClaim(a->len);
	return PointerGetDatum(array);
}

/*
 * The composite result of get_records, in the arena when it fits.
 */
static Datum
result_datum(MemoryContext owner, TupleDesc desc, Datum *values, bool *nulls)
{
	Size		hoff;
	Size		len = composite_size(desc, values, nulls, &hoff);
	Size		cap;
	char	   *dst = KinesisArenaOpen(owner, &cap);

	if (dst == NULL || cap < len)
		dst = MemoryContextAllocHuge(owner, len);
	else
		KinesisArenaClaim(len);
	composite_fill(dst, len, hoff, desc, values, nulls);
	return PointerGetDatum(dst);
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
 * Count a get_records call in the stream's and the shard's metrics.  The
 * iterator age is that of the last record returned, 0 when none was.
 */
static void
count_get_records(KinesisStream *stream, KinesisShard *shard, int nrecords,
				  int64 bytes, TimestampTz last_arrival, TimestampTz start)
{
	KinesisShardState *state = KinesisStableStreamState(stream);
	int64		age_ms = nrecords > 0 ?
		Max(GetCurrentTimestamp() - last_arrival, 0) / 1000 : 0;

	KinesisMetricAdd(state, KM_GET_RECORDS_SUCCESS, 1);
	KinesisMetricAdd(state, KM_GET_RECORDS_BYTES, bytes);
	KinesisMetricAdd(state, KM_GET_RECORDS_RECORDS, nrecords);
	KinesisMetricMax(state, KM_GET_RECORDS_ITERATOR_AGE_MAX, age_ms);
	KinesisMetricLatency(state, KM_GET_RECORDS_LATENCY, start);
	KinesisMetricAdd(shard->state, KM_OUTGOING_BYTES, bytes);
	KinesisMetricAdd(shard->state, KM_OUTGOING_RECORDS, nrecords);
	KinesisMetricMax(shard->state, KM_ITERATOR_AGE_MAX, age_ms);
}

/* What one page of a get_records call read */
typedef struct ReadPage
{
	int64		after;			/* counter of the last record read */
	int64		bytes;			/* data bytes read */
	TimestampTz last_arrival;	/* arrival of the last record read */
	bool		complete;		/* everything below the bound was read */
} ReadPage;

/*
 * Read up to limit records (and 10 MiB) after page->after into records.
 */
static void
read_page(ReadTarget *target, int32 limit, TupleDesc record_desc,
		  RecordArray *records, ReadPage *page)
{
	ShardScan	scan;

	page->bytes = 0;
	page->last_arrival = 0;
	page->complete = true;
	shard_scan_begin(&scan, target, page->after);
	while (records->n < limit)
	{
		Datum		record[RECORD_NCOLS];
		KinesisNumericBuf seqbuf;
		int64		size;

		if (!shard_scan_next(&scan))
			break;
		size = toast_raw_datum_size(scan.slot->tts_values[REC_COL_DATA]);
		if (records->n > 0 && page->bytes + size > KINESIS_MAX_GET_BYTES)
		{
			page->complete = false;
			break;
		}
		page->bytes += size;
		record_values(&scan, record, &seqbuf, true);
		record_array_add(records, record_desc, record);
		page->after = DatumGetInt64(scan.slot->tts_values[REC_COL_COUNTER]);
		page->last_arrival = DatumGetTimestampTz(scan.slot->tts_values[REC_COL_ARRIVAL]);
	}
	if (records->n == limit)
		page->complete = false;
	shard_scan_end(&scan, false);

	/* everything below the bound was seen: move past gaps to bound - 1 */
	if (page->complete)
		page->after = Max(page->after, target->bound - 1);
}

/* How a read finds its shard, again after a wait */
typedef struct ShardRef
{
	const char *stream_name;
	int32		index;			/* shard index, or -1 to use shard_id */
	const char *shard_id;
	int64		stream_id;		/* 0, or the stream the read must find */
	TimestampTz created;
} ShardRef;

static void
open_ref(ShardRef *ref, KinesisStream **stream, KinesisShard **shard)
{
	open_shard(ref->stream_name, ref->index, ref->shard_id, ref->stream_id,
			   ref->created, stream, shard);
}

/*
 * Read a page of an opened shard after page->after.  With wait_ms > 0, a
 * read that finds no record waits until wait_ms after start for a
 * writer's commit on the shard (stable.c wakes it), without holding the
 * shard's lock meanwhile, and reads again; *stream and *shard are then
 * looked up anew.
 */
static void
read_waiting(ShardRef *ref, KinesisStream **stream, KinesisShard **shard,
			 int32 limit, int32 wait_ms, TimestampTz start, TupleDesc record_desc,
			 RecordArray *records, ReadPage *page, ReadTarget *target)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(start, wait_ms);

	for (;;)
	{
		KinesisWaitSlot *slot = NULL;
		long		remaining = 0;

		/* announce the wait before reading: a later commit wakes us */
		if (wait_ms > 0)
		{
			remaining = (deadline - GetCurrentTimestamp() + 999) / 1000;
			if (remaining > 0)
				slot = KinesisStableWaitBegin(*shard);
		}
		read_target(*stream, *shard, target);
		read_page(target, limit, record_desc, records, page);
		if (slot == NULL || records->n > 0 || target->drained)
		{
			if (slot)
				KinesisStableWaitEnd(slot);
			return;
		}

		UnlockRelationOid((*shard)->relid, RowShareLock);
		KinesisStableWaitSleep(slot, remaining);
		KinesisStableWaitEnd(slot);
		open_ref(ref, stream, shard);
	}
}

/*
 * The result type of a read function, whose first column is an array of
 * kinesis.record, and that record type.
 */
static void
result_types(FunctionCallInfo fcinfo, TupleDesc *result_desc, Oid *record_type,
			 TupleDesc *record_desc)
{
	if (get_call_result_type(fcinfo, NULL, result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "a read function must return a composite type");
	*record_type = get_element_type(TupleDescAttr(*result_desc, 0)->atttypid);
	*record_desc = lookup_rowtype_tupdesc_copy(*record_type, -1);
}

/*
 * The next shard iterator of a get_records read.
 */
static Datum
iterator_position(KinesisStream *stream, KinesisShard *shard, ReadPage *page)
{
	return PointerGetDatum(KinesisIteratorEncode(stream, shard, page->after));
}

/*
 * The result of a read: (records, position, millis_behind_latest,
 * child_shards).  At the end of a closed shard the position is NULL and
 * child_shards lists its children; otherwise position() gives it.
 */
static Datum
read_result(MemoryContext owner, TupleDesc result_desc, Oid record_type,
			RecordArray *records, ReadPage *page, ReadTarget *target,
			KinesisStream *stream, KinesisShard *shard,
			Datum (*position) (KinesisStream *stream, KinesisShard *shard, ReadPage *page))
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, true};

	values[0] = record_array_finish(records, record_type);
	if (page->complete && target->drained)
	{
		nulls[1] = true;
		nulls[3] = false;
		values[3] = child_shards_json(stream, shard->shard_index);
	}
	else
		values[1] = position(stream, shard, page);
	values[2] = Int64GetDatum(page->complete ? 0 :
							  Max(target->tip - page->last_arrival, 0) / 1000);
	return result_datum(owner, result_desc, values, nulls);
}

/*
 * kinesis.get_records(shard_iterator, limit, wait_ms)
 *		RETURNS kinesis.get_records_result
 */
Datum
kinesis_get_records(PG_FUNCTION_ARGS)
{
	KinesisIterator it;
	int32		limit;
	int32		wait_ms;
	KinesisStream *stream;
	KinesisShard *shard;
	ReadTarget	target;
	TupleDesc	result_desc;
	TupleDesc	record_desc;
	Oid			record_type;
	RecordArray records;
	MemoryContext owner = CurrentMemoryContext;
	ReadPage	page;
	ShardRef	ref;
	TimestampTz start = GetCurrentTimestamp();

	kinesis_check_loaded();
	KinesisRequireArg(fcinfo, 0, "shard_iterator");
	limit = KinesisLimitArg(fcinfo, 1);
	wait_ms = KinesisWaitArg(fcinfo, 2);
	KinesisIteratorDecode(PG_GETARG_TEXT_PP(0), &it);

	result_types(fcinfo, &result_desc, &record_type, &record_desc);

	ref.stream_name = it.stream_name;
	ref.index = it.shard_index;
	ref.shard_id = NULL;
	ref.stream_id = it.stream_id;
	ref.created = it.stream_created_at;
	open_ref(&ref, &stream, &shard);
	KinesisMetricAdd(KinesisStableStreamState(stream), KM_GET_RECORDS_CALLS, 1);
	if (KinesisThrottled(stream) && !KinesisThrottleReadCall(shard, KinesisNow()))
	{
		KinesisMetricAdd(shard->state, KM_READ_THROTTLED, 1);
		KinesisThrottleError(stream, shard, false);
	}

	page.after = it.after_counter;
	record_array_begin(&records, owner);
	read_waiting(&ref, &stream, &shard, limit, wait_ms, start, record_desc,
				 &records, &page, &target);
	if (KinesisThrottled(stream))
		KinesisThrottleReadBytes(shard, page.bytes);

	count_get_records(stream, shard, records.n, page.bytes, page.last_arrival, start);
	PG_RETURN_DATUM(read_result(owner, result_desc, record_type, &records, &page,
								&target, stream, shard, iterator_position));
}

/*
 * The sequence number of a position (a counter) of a shard, carrying the
 * arrival of the record there or, when none is known, the time the
 * counter stands for (counters are microsecond clock values).
 */
static Datum
position_seqno(KinesisShard *shard, int64 counter, TimestampTz arrival)
{
	if (arrival == 0)
		arrival = Max(counter - UNIX_TO_PG_USECS, 0);
	return KinesisRecordSeqNo(shard, counter, arrival, NULL);
}

/*
 * The continuation sequence number of a subscription read: the number of
 * the position reached (of the last record read, or of where the read
 * ended past gaps).
 */
static Datum
continuation_position(KinesisStream *stream, KinesisShard *shard, ReadPage *page)
{
	return position_seqno(shard, page->after, page->last_arrival);
}

/*
 * kinesis.subscribe_to_shard(stream_name, consumer_name, shard_id,
 *							  starting_position_type, starting_sequence_number,
 *							  "timestamp", wait_ms, "limit")
 *		RETURNS kinesis.subscribe_to_shard_event
 *
 * The SQL form of SubscribeToShard: a registered consumer's read that
 * returns the records available at once, or waits up to wait_ms for the
 * first new one; continue with AFTER_SEQUENCE_NUMBER and the continuation
 * sequence number.  Not counted against the shard's get_records limits.
 */
Datum
kinesis_subscribe_to_shard(PG_FUNCTION_ARGS)
{
	char	   *consumer;
	IteratorType type;
	int32		wait_ms;
	int32		limit;
	KinesisStream *stream;
	KinesisShard *shard;
	ReadTarget	target;
	TupleDesc	result_desc;
	TupleDesc	record_desc;
	Oid			record_type;
	RecordArray records;
	MemoryContext owner = CurrentMemoryContext;
	ReadPage	page;
	ShardRef	ref;
	TimestampTz start = GetCurrentTimestamp();

	kinesis_check_loaded();
	ref.stream_name = KinesisStreamNameArg(fcinfo, 0);
	consumer = KinesisNameArg(fcinfo, 1, "consumer_name", "consumer name");
	KinesisRequireArg(fcinfo, 2, "shard_id");
	ref.shard_id = text_to_cstring(PG_GETARG_TEXT_PP(2));
	ref.index = -1;
	ref.stream_id = 0;
	ref.created = 0;
	type = iterator_type_arg(fcinfo, 3, "starting_position_type");
	wait_ms = KinesisWaitArg(fcinfo, 6);
	limit = KinesisLimitArg(fcinfo, 7);

	result_types(fcinfo, &result_desc, &record_type, &record_desc);

	open_ref(&ref, &stream, &shard);
	if (!KinesisStreamHasConsumer(stream, consumer))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("consumer \"%s\" does not exist in stream \"%s\"", consumer,
						ref.stream_name),
				 errhint("Register it with kinesis.register_stream_consumer.")));
	/* the position is resolved once; a wait then follows the shard */
	ref.stream_id = stream->stream_id;
	ref.created = stream->created_at;
	page.after = start_position(fcinfo, type, 4, stream, shard);
	(void) KinesisConsumerAdmit(stream, shard, consumer, true);

	record_array_begin(&records, owner);
	read_waiting(&ref, &stream, &shard, limit, wait_ms, start, record_desc,
				 &records, &page, &target);
	KinesisConsumerSpent(stream, shard, consumer, records.n, page.bytes,
						 page.complete ? 0 : Max(target.tip - page.last_arrival, 0) / 1000);
	KinesisMetricAdd(shard->state, KM_OUTGOING_BYTES, page.bytes);
	KinesisMetricAdd(shard->state, KM_OUTGOING_RECORDS, records.n);
	PG_RETURN_DATUM(read_result(owner, result_desc, record_type, &records, &page,
								&target, stream, shard, continuation_position));
}

/*
 * The result tuplestore of a materialize-mode set-returning function, in
 * reusable memory (buffer.c).  Up to KINESIS_READ_MEMORY_KB (or work_mem,
 * if larger) of rows stay in memory before spilling to a temporary file:
 * a page of 10,000 ordinary records stays in memory.
 */
static Tuplestorestate *
result_store(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt;
	MemoryContext old;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	old = MemoryContextSwitchTo(query_cxt);
	if (get_call_result_type(fcinfo, NULL, desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	*desc = CreateTupleDescCopy(*desc);

	MemoryContextSwitchTo(KinesisResultContext(query_cxt));
	store = tuplestore_begin_heap(false, false, Max(work_mem, KINESIS_READ_MEMORY_KB));
	MemoryContextSwitchTo(old);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *desc;
	return store;
}

/*
 * kinesis.read_records(stream_name, shard_id, after_sequence_number, "limit")
 *		RETURNS SETOF kinesis.record
 *
 * Rows go from the index scan straight into the result set; no array is
 * built.
 */
Datum
kinesis_read_records(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *shard_id;
	int32		limit;
	KinesisStream *stream;
	KinesisShard *shard;
	ReadTarget	target;
	ShardScan	scan;
	Tuplestorestate *store;
	TupleDesc	desc;
	int64		after = -1;
	int32		n = 0;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "shard_id");
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	limit = KinesisLimitArg(fcinfo, 3);

	open_shard(name, -1, shard_id, 0, 0, &stream, &shard);
	if (!PG_ARGISNULL(2))
		after = KinesisShardCounter(PG_GETARG_DATUM(2), stream, shard,
							  "after sequence number");
	read_target(stream, shard, &target);
	store = result_store(fcinfo, &desc);

	shard_scan_begin(&scan, &target, after);
	while (n < limit && shard_scan_next(&scan))
	{
		Datum		values[RECORD_NCOLS];
		bool		nulls[RECORD_NCOLS] = {false, false, false, false};
		KinesisNumericBuf seqbuf;

		record_values(&scan, values, &seqbuf, false);
		tuplestore_putvalues(store, desc, values, nulls);
		n++;
	}
	shard_scan_end(&scan, true);
	return (Datum) 0;
}

/*
 * The sequence number of a shard's newest final position (its read bound
 * less one), for starting a reader at LATEST.  Locks and attaches the
 * shard.
 */
Datum
KinesisShardLatestSeqNo(KinesisStream *stream, KinesisShard *shard)
{
	ReadTarget	target;
	int64		counter;

	if (!KinesisLockShard(stream, shard, RowShareLock))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
				 errmsg("stream \"%s\" changed meanwhile", stream->name),
				 errhint("Try again.")));
	KinesisStableAttach(stream, shard);
	read_target(stream, shard, &target);
	counter = Max(target.bound - 1, 0);
	return position_seqno(shard, counter, 0);
}

/*
 * How far a checkpoint (a sequence number of a locked, attached shard) is
 * behind the shard's newest record, in ms, into *lag_ms: 0 when no
 * readable record follows it; otherwise the arrival of the newest
 * allocation less that of the checkpointed record, and at least 1.  When
 * the checkpointed record is not there (it expired, or the checkpoint is a
 * position, as LATEST leaves), its arrival is taken as the earlier of the
 * second its sequence number carries and the next record's arrival.
 * False when it cannot tell: records follow but nothing was put since the
 * server started.
 */
bool
KinesisCheckpointLag(KinesisStream *stream, KinesisShard *shard, Datum checkpoint,
					 int64 *lag_ms)
{
	int64		counter = KinesisShardCounter(checkpoint, stream, shard, "checkpoint");
	ReadTarget	target;
	ShardScan	scan;
	TimestampTz at = 0;
	TimestampTz next = 0;
	bool		found = false;
	bool		behind = false;

	*lag_ms = 0;
	if (counter == KINESIS_MAX_COUNTER)
		return true;			/* SHARD_END */
	read_target(stream, shard, &target);
	shard_scan_begin(&scan, &target, counter - 1);
	while (!behind && shard_scan_next(&scan))
	{
		TimestampTz arrival = DatumGetTimestampTz(scan.slot->tts_values[REC_COL_ARRIVAL]);

		if (DatumGetInt64(scan.slot->tts_values[REC_COL_COUNTER]) == counter)
		{
			at = arrival;
			found = true;
		}
		else
		{
			next = arrival;
			behind = true;
		}
	}
	shard_scan_end(&scan, false);
	if (!behind)
		return true;
	if (target.tip == 0)
		return false;
	if (!found)
		at = Min(KinesisSeqNoTime(checkpoint), next);
	*lag_ms = Max((target.tip - at) / 1000, 1);
	return true;
}

/*
 * The sequence number of the first readable record of a locked, attached
 * shard after the counter after, or (Datum) 0 when there is none.
 */
Datum
KinesisShardNextSeqNo(KinesisStream *stream, KinesisShard *shard, int64 after)
{
	ReadTarget	target;
	ShardScan	scan;
	Datum		seqno = (Datum) 0;

	read_target(stream, shard, &target);
	shard_scan_begin(&scan, &target, after);
	if (shard_scan_next(&scan))
	{
		Datum	   *cols = scan.slot->tts_values;

		seqno = KinesisRecordSeqNo(shard, DatumGetInt64(cols[REC_COL_COUNTER]),
								   DatumGetTimestampTz(cols[REC_COL_ARRIVAL]), NULL);
	}
	shard_scan_end(&scan, false);
	return seqno;
}

/*
 * Append up to limit records of a locked, attached shard after the
 * counter after to store, as rows (shard_id, token, sequence_number,
 * approximate_arrival_timestamp, partition_key, data) for consume, paid
 * from the consumer's read budget.  Returns the number of rows; *drained
 * is set when the shard is closed and has no record after after (limit
 * must be positive).
 */
int
KinesisConsumeShard(KinesisStream *stream, KinesisShard *shard, int64 after,
					int limit, Tuplestorestate *store, TupleDesc desc,
					Datum shard_id, Datum token, const char *consumer, bool *drained)
{
	ReadTarget	target;
	ShardScan	scan;
	int			n = 0;
	int64		bytes = 0;

	*drained = false;
	/* a consumer over its budget on this shard skips it for now */
	if (!KinesisConsumerAdmit(stream, shard, consumer, false))
		return 0;
	read_target(stream, shard, &target);
	shard_scan_begin(&scan, &target, after);
	while (n < limit && shard_scan_next(&scan))
	{
		Datum		record[RECORD_NCOLS];
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		KinesisNumericBuf seqbuf;

		record_values(&scan, record, &seqbuf, true);
		values[0] = shard_id;
		values[1] = token;
		values[2] = record[0];
		values[3] = record[1];
		values[4] = record[3];
		values[5] = record[2];
		tuplestore_putvalues(store, desc, values, nulls);
		bytes += toast_raw_datum_size(record[2]);
		n++;
	}
	shard_scan_end(&scan, false);
	*drained = n == 0 && target.drained;
	KinesisConsumerSpent(stream, shard, consumer, n, bytes, 0);
	KinesisMetricAdd(shard->state, KM_OUTGOING_BYTES, bytes);
	KinesisMetricAdd(shard->state, KM_OUTGOING_RECORDS, n);
	return n;
}
