/*-------------------------------------------------------------------------
 *
 * put.c
 *	  put_record and put_records: validate, route, allocate sequence
 *	  counters, insert through the table and index access methods.
 *
 * The whole request is validated before anything is allocated or
 * written, so bad input changes nothing.  Records are routed by hash key
 * to the open shard covering it, each shard's table is locked in
 * RowExclusiveLock mode, one range of counters is allocated per shard
 * (one spinlock acquisition, which also registers this transaction as an
 * in-flight writer of the shard, see stable.c), and each shard's records
 * are inserted with one multi-insert call plus index insertions.  No SPI
 * and no SQL text on this path; triggers on stream tables are not fired
 * (the only one forbids direct writes).
 *
 * Processes: client backends.  Locks: RowExclusiveLock on the shard
 * tables, the shard states' spinlocks in stable.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "kinesis.h"

PG_FUNCTION_INFO_V1(kinesis_put_record);
PG_FUNCTION_INFO_V1(kinesis_put_records);
PG_FUNCTION_INFO_V1(kinesis_forbid_direct_write);

/* Seconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* How far ahead of the clock an ordering number's counter may be */
#define ORDERING_CLOCK_TOLERANCE_SECS	3600

/* One record of a request, validated */
typedef struct PutEntry
{
	Datum		data;			/* bytea */
	Datum		partition_key;	/* text */
	KinesisHashKey hash_key;
	int64		size;			/* data plus partition key UTF-8 bytes */
	int			ordinal;		/* 1-based position in the request */
	KinesisShard *shard;		/* routed to */
	bool		throttled;		/* over the shard's write rate */
	int64		counter;		/* allocated */
} PutEntry;

/*
 * Set the hash key and size of a record; raises on invalid input.
 */
static void
prepare_entry(PutEntry *entry, text *key, bool has_explicit, Datum explicit_key)
{
	const char *keystr = VARDATA_ANY(key);
	int			keylen = VARSIZE_ANY_EXHDR(key);
	const char *utf8;

	KinesisValidatePartitionKey(keystr, keylen, entry->ordinal);
	utf8 = pg_server_to_any(keystr, keylen, PG_UTF8);
	if (utf8 != keystr)
		keylen = strlen(utf8);

	if (has_explicit)
		entry->hash_key = KinesisHashKeyFromNumeric(explicit_key,
													"explicit hash key",
													entry->ordinal);
	else
		entry->hash_key = KinesisPartitionKeyHash(utf8, keylen);
	entry->partition_key = PointerGetDatum(key);

	entry->size = (int64) (toast_raw_datum_size(entry->data) - VARHDRSZ) + keylen;
}

/*
 * Raise KN008 when a record exceeds the stream's maximum record size.
 */
static void
check_record_size(KinesisStream *stream, int64 size, int ordinal)
{
	if (size > stream->max_record_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("record of " INT64_FORMAT " bytes exceeds the maximum record size of stream \"%s\"",
						size, stream->name),
				 errdetail("Data and partition key together may have at most %d bytes.",
						   stream->max_record_bytes),
				 ordinal > 0 ? errcontext("record %d of the request", ordinal) : 0));
}

/* Entries by shard index, then in request order */
static int
entry_cmp_shard(const void *a, const void *b)
{
	const PutEntry *ea = *(PutEntry *const *) a;
	const PutEntry *eb = *(PutEntry *const *) b;

	if (ea->shard->shard_index != eb->shard->shard_index)
		return ea->shard->shard_index < eb->shard->shard_index ? -1 : 1;
	return ea->ordinal < eb->ordinal ? -1 : (ea->ordinal > eb->ordinal);
}

/*
 * Route every entry, sort them into order (by shard index, then request
 * order), lock the target shards' tables in that order, as reshards do
 * (reshard.c), and attach their shared states.  Returns false when locking
 * made the stream's cache entry stale; the caller then looks the stream up
 * again and starts over.
 */
static bool
route_and_lock(KinesisStream *stream, PutEntry *entries, int n, PutEntry **order)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		entries[i].shard = KinesisShardForKey(stream, entries[i].hash_key);
		order[i] = &entries[i];
	}
	if (n > 1)
		qsort(order, n, sizeof(PutEntry *), entry_cmp_shard);

	for (i = 0; i < n; i++)
	{
		if (i > 0 && order[i]->shard == order[i - 1]->shard)
			continue;
		if (!KinesisLockShard(stream, order[i]->shard, RowExclusiveLock))
			return false;
		KinesisStableAttach(stream, order[i]->shard);
	}
	return true;
}

/*
 * Look the stream up and check that it accepts writes from this user.
 */
static KinesisStream *
writable_stream(const char *name)
{
	KinesisStream *stream = KinesisStreamLookup(name, false);

	if (stream->status != KINESIS_STATUS_ACTIVE &&
		stream->status != KINESIS_STATUS_UPDATING)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("stream \"%s\" is not available for writing", name),
				 errdetail("The stream is in state %s.", KinesisStatusName(stream->status))));
	KinesisCheckStreamPrivilege(stream, ACL_INSERT);
	return stream;
}

/*
 * Insert the entries of one shard (in request order, counters already
 * set) into the given segment, with one multi-insert call and their index
 * entries.
 */
static void
insert_shard_records(KinesisStream *stream, KinesisShard *shard, int16 segment,
					 PutEntry **batch, int n, TimestampTz arrival, EState *estate)
{
	Oid			relid = KinesisSegmentRelid(stream, shard, segment);
	Relation	rel = table_open(relid, RowExclusiveLock);
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * n);
	int			i;

	if (RelationGetDescr(rel)->natts != REC_NCOLS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" of a stream was altered", RelationGetRelationName(rel))));

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	for (i = 0; i < n; i++)
	{
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		ExecClearTuple(slot);
		slot->tts_values[REC_COL_COUNTER] = Int64GetDatum(batch[i]->counter);
		slot->tts_values[REC_COL_ARRIVAL] = TimestampTzGetDatum(arrival);
		slot->tts_values[REC_COL_SHARD] = Int32GetDatum(shard->shard_index);
		slot->tts_values[REC_COL_SEGMENT] = Int16GetDatum(segment);
		slot->tts_values[REC_COL_KEY] = batch[i]->partition_key;
		slot->tts_values[REC_COL_DATA] = batch[i]->data;
		memset(slot->tts_isnull, 0, sizeof(bool) * REC_NCOLS);
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}

	table_multi_insert(rel, slots, n, GetCurrentCommandId(true), 0, NULL);
	for (i = 0; i < n; i++)
	{
		if (rri->ri_NumIndices > 0)
			ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL);
		ExecDropSingleTupleTableSlot(slots[i]);
	}

	ExecCloseIndices(rri);
	table_close(rel, NoLock);	/* keep the lock until end of transaction */
}


/*
 * Take write tokens for the entries in request order (throttle.c); marks
 * the entries a shard has no room for and returns how many are admitted.
 */
static int
admit_entries(KinesisStream *stream, PutEntry *entries, int n)
{
	TimestampTz now;
	int			admitted = 0;
	int			i;

	if (!KinesisThrottled(stream))
		return n;
	now = KinesisNow();
	for (i = 0; i < n; i++)
	{
		entries[i].throttled = !KinesisThrottleWrite(entries[i].shard, entries[i].size, now);
		if (!entries[i].throttled)
			admitted++;
		else
			KinesisMetricAdd(entries[i].shard->state, KM_WRITE_THROTTLED, 1);
	}
	return admitted;
}

/*
 * Allocate counters and insert the admitted entries of order (sorted by
 * route_and_lock): per shard one allocation and one multi-insert, records
 * of a shard in request order.  min_counter applies to the first shard
 * only (put_record has one).  Returns the bytes written.
 */
static int64
write_entries(KinesisStream *stream, PutEntry **order, int n,
			  int64 min_counter, TimestampTz arrival)
{
	EState	   *estate = CreateExecutorState();
	int64		total = 0;
	int			nwrite = 0;
	int			start;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!order[i]->throttled)
			order[nwrite++] = order[i];
	}

	for (start = 0; start < nwrite;)
	{
		KinesisShard *shard = order[start]->shard;
		int			end = start;
		int64		first;
		int64		bytes = 0;
		int16		segment;

		while (end < nwrite && order[end]->shard == shard)
			end++;
		first = KinesisStableAllocate(shard, end - start, min_counter, arrival,
									  &segment);
		for (i = start; i < end; i++)
		{
			order[i]->counter = first + (i - start);
			bytes += order[i]->size;
		}
		KinesisMetricAdd(shard->state, KM_INCOMING_RECORDS, end - start);
		KinesisMetricAdd(shard->state, KM_INCOMING_BYTES, bytes);
		insert_shard_records(stream, shard, segment, order + start, end - start,
							 arrival, estate);
		total += bytes;
		start = end;
	}
	FreeExecutorState(estate);
	return total;
}

/*
 * The least counter a put_record with sequence_number_for_ordering must
 * exceed in shard, or -1.  Raises KN003 for an invalid number.
 */
static int64
ordering_min_counter(Datum seqnum, KinesisShard *shard)
{
	KinesisSeqNo seq;
	TimestampTz now = KinesisNow();
	int64		now_secs = now / USECS_PER_SEC + UNIX_TO_PG_SECS;
	bool		valid;

	/*
	 * Valid: well-formed, written in the past, with a shard creation second
	 * (ahead by one second per reshard generation, see reshard.c) and a
	 * counter (a clock in microseconds, see stable.c) not far ahead of the
	 * clock, so that no made-up number can push a shard's counter toward
	 * its end.
	 */
	valid = KinesisSeqNoFromNumeric(seqnum, &seq) &&
		seq.write_secs <= now_secs &&
		seq.create_secs <= now_secs + ORDERING_CLOCK_TOLERANCE_SECS &&
		seq.counter <= (now_secs + ORDERING_CLOCK_TOLERANCE_SECS) * USECS_PER_SEC;
	/* of this very shard: a number it handed out */
	if (valid && seq.shard_index == shard->shard_index &&
		seq.create_secs == shard->create_secs)
		valid = seq.counter < KinesisStableNextCounter(shard);
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("sequence number %s used for ordering is invalid",
						DatumGetCString(DirectFunctionCall1(numeric_out, seqnum)))));

	/* numbers of shards created earlier are below every number of this one */
	if (seq.create_secs != shard->create_secs ||
		(seq.shard_index & 0xf) != (shard->shard_index & 0xf))
		return -1;
	return seq.counter;
}

/*
 * kinesis.put_record(stream_name, data, partition_key, explicit_hash_key,
 *					  sequence_number_for_ordering)
 *		RETURNS TABLE(shard_id text, sequence_number numeric)
 */
Datum
kinesis_put_record(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	PutEntry	entry;
	PutEntry   *one = &entry;
	KinesisStream *stream;
	int64		min_counter = -1;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz arrival;
	KinesisShardState *state;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "data");
	KinesisRequireArg(fcinfo, 2, "partition_key");
	PreventCommandIfReadOnly("put_record");

	memset(&entry, 0, sizeof(entry));
	entry.data = PG_GETARG_DATUM(1);
	entry.ordinal = 0;
	prepare_entry(&entry, PG_GETARG_TEXT_PP(2),
						 !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_DATUM(3));

	do
	{
		stream = writable_stream(name);
		check_record_size(stream, entry.size, 0);
	} while (!route_and_lock(stream, &entry, 1, &one));

	if (!PG_ARGISNULL(4))
		min_counter = ordering_min_counter(PG_GETARG_DATUM(4), entry.shard);
	state = KinesisStableStreamState(stream);
	KinesisMetricAdd(state, KM_PUT_RECORD_CALLS, 1);
	if (admit_entries(stream, &entry, 1) == 0)
		KinesisThrottleError(stream, entry.shard, true);

	arrival = GetCurrentTimestamp();
	write_entries(stream, &one, 1, min_counter, arrival);
	KinesisMetricAdd(state, KM_PUT_RECORD_SUCCESS, 1);
	KinesisMetricAdd(state, KM_PUT_RECORD_BYTES, entry.size);
	KinesisMetricLatency(state, KM_PUT_RECORD_LATENCY, start);

	InitMaterializedSRF(fcinfo, 0);
	values[0] = CStringGetTextDatum(KinesisShardIdString(entry.shard->shard_index));
	values[1] = KinesisRecordSeqNo(entry.shard, entry.counter, arrival, NULL);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * Deconstruct a one-dimensional array argument; KN008 when it has more
 * dimensions.
 */
static void
array_arg(FunctionCallInfo fcinfo, int argno, const char *argname, Oid elemtype,
		  int16 typlen, bool typbyval, char typalign,
		  Datum **elems, bool **nulls, int *n)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(argno);

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname)));
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, elems, nulls, n);
}

/*
 * Validate put_records' arrays into entries; returns the number of entries.
 */
static int
put_records_entries(FunctionCallInfo fcinfo, PutEntry **result)
{
	Datum	   *data,
			   *keys,
			   *hash_keys = NULL;
	bool	   *data_nulls,
			   *key_nulls,
			   *hash_nulls = NULL;
	int			n,
				nkeys,
				nhash = 0;
	PutEntry   *entries;
	int64		total_size = 0;
	int			i;

	KinesisRequireArg(fcinfo, 1, "data");
	KinesisRequireArg(fcinfo, 2, "partition_keys");
	array_arg(fcinfo, 1, "data", BYTEAOID, -1, false, TYPALIGN_INT, &data, &data_nulls, &n);
	array_arg(fcinfo, 2, "partition_keys", TEXTOID, -1, false, TYPALIGN_INT, &keys, &key_nulls, &nkeys);
	if (!PG_ARGISNULL(3))
		array_arg(fcinfo, 3, "explicit_hash_keys", NUMERICOID, -1, false, TYPALIGN_INT,
				  &hash_keys, &hash_nulls, &nhash);

	if (n < 1 || n > KINESIS_MAX_PUT_RECORDS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("put_records takes 1 to %d records", KINESIS_MAX_PUT_RECORDS),
				 errdetail("The request has %d records.", n)));
	if (nkeys != n || (hash_keys != NULL && nhash != n))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("arrays data, partition_keys and explicit_hash_keys must have the same length"),
				 errdetail("data has %d elements, partition_keys %d%s.", n, nkeys,
						   hash_keys ? psprintf(", explicit_hash_keys %d", nhash) : "")));

	entries = palloc0(sizeof(PutEntry) * n);
	for (i = 0; i < n; i++)
	{
		entries[i].ordinal = i + 1;
		if (data_nulls[i] || key_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_VALIDATION),
					 errmsg("%s must not be null", data_nulls[i] ? "data" : "partition key"),
					 errcontext("record %d of the request", i + 1)));
		entries[i].data = data[i];
		prepare_entry(&entries[i], DatumGetTextPP(keys[i]),
					  hash_keys != NULL && !hash_nulls[i],
					  hash_keys ? hash_keys[i] : (Datum) 0);
		total_size += entries[i].size;
	}
	if (total_size > KINESIS_MAX_PUT_RECORDS_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("records size exceeds the limit of %d bytes",
						KINESIS_MAX_PUT_RECORDS_BYTES),
				 errdetail("The request has " INT64_FORMAT " bytes of data and partition keys.",
						   total_size)));
	*result = entries;
	return n;
}

/*
 * Count a put_records call in the stream's metrics.
 */
static void
count_put_records(KinesisStream *stream, int n, int admitted, int64 bytes,
				  TimestampTz start)
{
	KinesisShardState *state = KinesisStableStreamState(stream);

	KinesisMetricAdd(state, KM_PUT_RECORDS_CALLS, 1);
	KinesisMetricAdd(state, KM_PUT_RECORDS_SUCCESS, admitted > 0);
	KinesisMetricAdd(state, KM_PUT_RECORDS_TOTAL_RECORDS, n);
	KinesisMetricAdd(state, KM_PUT_RECORDS_SUCCESSFUL_RECORDS, admitted);
	KinesisMetricAdd(state, KM_PUT_RECORDS_THROTTLED_RECORDS, n - admitted);
	KinesisMetricAdd(state, KM_PUT_RECORDS_BYTES, bytes);
	KinesisMetricLatency(state, KM_PUT_RECORDS_LATENCY, start);
}

/*
 * kinesis.put_records(stream_name, data, partition_keys, explicit_hash_keys)
 *		RETURNS TABLE(ordinality int, shard_id text, sequence_number numeric,
 *					  error_code text, error_message text)
 */
Datum
kinesis_put_records(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	PutEntry   *entries;
	int			n;
	KinesisStream *stream;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz arrival;
	int			admitted;
	PutEntry  **order;
	int64		bytes;
	int			i;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	n = put_records_entries(fcinfo, &entries);
	order = palloc(sizeof(PutEntry *) * n);
	PreventCommandIfReadOnly("put_records");

	do
	{
		stream = writable_stream(name);
		for (i = 0; i < n; i++)
			check_record_size(stream, entries[i].size, entries[i].ordinal);
	} while (!route_and_lock(stream, entries, n, order));

	admitted = admit_entries(stream, entries, n);
	arrival = GetCurrentTimestamp();
	bytes = write_entries(stream, order, n, -1, arrival);
	count_put_records(stream, n, admitted, bytes, start);

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		values[5] = {0};
		bool		nulls[5] = {false, true, true, true, true};

		values[0] = Int32GetDatum(entries[i].ordinal);
		if (entries[i].throttled)
		{
			values[3] = CStringGetTextDatum("ProvisionedThroughputExceededException");
			values[4] = CStringGetTextDatum(KinesisThrottleEntryMessage(stream, entries[i].shard));
			nulls[3] = nulls[4] = false;
		}
		else
		{
			values[1] = CStringGetTextDatum(KinesisShardIdString(entries[i].shard->shard_index));
			values[2] = KinesisRecordSeqNo(entries[i].shard, entries[i].counter, arrival, NULL);
			nulls[1] = nulls[2] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Trigger on stream tables: records are written only through put_record
 * and put_records, which allocate sequence numbers and register in-flight
 * writers; a direct write could make readers skip it.
 */
Datum
kinesis_forbid_direct_write(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "kinesis.forbid_direct_write() called outside a trigger");
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("stream records cannot be written directly"),
			 errdetail("Records are appended only by kinesis.put_record and kinesis.put_records, and are never updated or deleted."),
			 errhint("Restore dumps of stream tables with session_replication_role = replica.")));
	PG_RETURN_NULL();
}
