/*-------------------------------------------------------------------------
 *
 * reshard.c
 *	  Resharding: split_shard, merge_shards, update_shard_count,
 *	  update_stream_mode, and the splits and merges of on-demand scaling.
 *
 * A reshard closes parent shards and creates children, in the caller's
 * transaction.  Closing a shard takes ExclusiveLock on its table: that
 * waits for the writers in flight on it (RowExclusiveLock) to end, and
 * keeps new writers and readers out until the reshard commits.  The
 * stream's cache entry is invalidated at commit, so the writers that were
 * waiting find the shard closed when they get the lock (catalog.c) and
 * route their records to the children: no record is lost and none lands
 * in a closed shard.  Readers of a closed parent read it to its end and
 * then get its children (get.c).
 *
 * Sequence numbers: a parent closes at the current second; its children are
 * created one second later, and the creation second is the most
 * significant field of every sequence number (seqno.c), so all numbers of
 * a child exceed all numbers of its parents.  Shards created and closed
 * within one operation (update_shard_count goes through intermediate
 * shards, as Kinesis does) move one second further per generation.
 *
 * Processes: client backends and maintenance workers.  Control operations
 * are serialized by the lock on kinesis.streams (control.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "kinesis.h"

/* Seconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* Kinesis' rolling-window limits */
#define MAX_SHARD_COUNT_UPDATES_PER_DAY	10
#define MAX_MODE_SWITCHES_PER_DAY		2

/* Shorter than any writer's, so a reshard is the victim of a deadlock */
#define RESHARD_DEADLOCK_TIMEOUT		"20ms"

PG_FUNCTION_INFO_V1(kinesis_split_shard);
PG_FUNCTION_INFO_V1(kinesis_merge_shards);
PG_FUNCTION_INFO_V1(kinesis_update_shard_count);
PG_FUNCTION_INFO_V1(kinesis_update_stream_mode);

/* A shard a reshard touches: an open shard, or one it creates */
typedef struct Piece
{
	int32		index;
	int32		parent;			/* -1 when none */
	int32		adjacent;		/* -1 when none */
	KinesisHashKey start;
	KinesisHashKey end;
	int64		create_secs;	/* Unix seconds */
	int64		close_secs;		/* -1 while open */
	bool		created;		/* made by this reshard */
	bool		closed;			/* closed by this reshard */
} Piece;

/* A reshard being planned */
typedef struct Reshard
{
	int64		stream_id;
	const char *stream_name;
	Oid			stream_relid;
	int64		now_secs;		/* closing second of existing shards */
	int32		next_index;		/* next shard index to hand out */
	List	   *pieces;			/* every Piece, open ones ascending by start */
} Reshard;

/*
 * Plan a reshard of a stream: its open shards, as pieces.  The caller
 * holds the catalog lock (KinesisControlBegin).
 */
static void
reshard_begin(Reshard *r, KinesisStreamRow *row)
{
	KinesisStream *stream;
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(row->stream_id);
	int			i;

	AcceptInvalidationMessages();
	stream = KinesisStreamLookup(row->name, false);

	r->stream_id = row->stream_id;
	r->stream_name = row->name;
	r->stream_relid = stream->relid;
	r->now_secs = GetCurrentTimestamp() / USECS_PER_SEC + UNIX_TO_PG_SECS;
	r->pieces = NIL;

	KinesisSpiExec("SELECT next_shard_index FROM kinesis.streams WHERE stream_id = $1",
				   1, &type, &value, InvalidOid, SPI_OK_SELECT);
	r->next_index = (int32) KinesisSpiInt(0, 1, 0);

	for (i = 0; i < stream->nopen; i++)
	{
		KinesisShard *shard = stream->open_shards[i];
		Piece	   *p = palloc0(sizeof(Piece));

		p->index = shard->shard_index;
		p->parent = shard->parent_index;
		p->adjacent = shard->adjacent_parent_index;
		p->start = shard->start_key;
		p->end = shard->end_key;
		p->create_secs = shard->create_secs;
		p->close_secs = -1;
		r->pieces = lappend(r->pieces, p);
	}
}

/*
 * The open piece with the given shard index, or NULL.
 */
static Piece *
open_piece(Reshard *r, int32 index)
{
	ListCell   *lc;

	foreach(lc, r->pieces)
	{
		Piece	   *p = lfirst(lc);

		if (p->index == index && p->close_secs < 0)
			return p;
	}
	return NULL;
}

/*
 * The open pieces, ascending by hash key.
 */
static List *
open_pieces(Reshard *r)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, r->pieces)
	{
		Piece	   *p = lfirst(lc);

		if (p->close_secs < 0)
			result = lappend(result, p);
	}
	return result;
}

static int
piece_cmp_start(const ListCell *a, const ListCell *b)
{
	Piece	   *pa = lfirst(a);
	Piece	   *pb = lfirst(b);

	return pa->start < pb->start ? -1 : (pa->start > pb->start);
}

static void
close_piece(Piece *p, int64 secs)
{
	p->close_secs = secs;
	p->closed = true;
}

static Piece *
new_piece(Reshard *r, int32 parent, int32 adjacent, KinesisHashKey start,
		  KinesisHashKey end, int64 create_secs)
{
	Piece	   *p = palloc0(sizeof(Piece));

	p->index = r->next_index++;
	p->parent = parent;
	p->adjacent = adjacent;
	p->start = start;
	p->end = end;
	p->create_secs = create_secs;
	p->close_secs = -1;
	p->created = true;
	r->pieces = lappend(r->pieces, p);
	return p;
}

/*
 * Split an open piece: children [start, key - 1] and [key, end].
 */
static void
plan_split(Reshard *r, Piece *p, KinesisHashKey key)
{
	int64		close = Max(r->now_secs, p->create_secs);

	Assert(key > p->start && key <= p->end);
	close_piece(p, close);
	new_piece(r, p->index, -1, p->start, key - 1, close + 1);
	new_piece(r, p->index, -1, key, p->end, close + 1);
}

/*
 * Merge two open pieces, a directly below b.
 */
static Piece *
plan_merge(Reshard *r, Piece *a, Piece *b)
{
	int64		close = Max(r->now_secs, Max(a->create_secs, b->create_secs));

	Assert(a->end + 1 == b->start);
	close_piece(a, close);
	close_piece(b, close);
	return new_piece(r, a->index, b->index, a->start, b->end, close + 1);
}

/*
 * Unix seconds as timestamptz.
 */
static void lock_parents(Reshard *r);
static void record_event(int64 stream_id, const char *operation, int before,
						 int after, const char *detail);

static Datum
secs_timestamptz(int64 secs)
{
	return TimestampTzGetDatum((secs - UNIX_TO_PG_SECS) * USECS_PER_SEC);
}

/*
 * Carry out a planned reshard: close the parents (waiting for their
 * writers), create the children's catalog rows and tables, record the
 * event.  Returns the number of open shards afterwards.
 */
static int
reshard_apply(Reshard *r, const char *operation, const char *detail)
{
	Oid			owner;
	ListCell   *lc;
	int			before = 0;
	int			after = 0;
	Oid			types[8] = {INT8OID, INT4OID, INT4OID, INT4OID, NUMERICOID,
		NUMERICOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[8];
	char		nulls[8];

	list_sort(r->pieces, piece_cmp_start);
	foreach(lc, r->pieces)
	{
		Piece	   *p = lfirst(lc);

		if (!p->created)
			before++;
		if (p->close_secs < 0)
			after++;
	}
	lock_parents(r);

	owner = KinesisExtensionOwner();
	foreach(lc, r->pieces)
	{
		Piece	   *p = lfirst(lc);

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(r->stream_id);
		values[1] = Int32GetDatum(p->index);
		values[2] = Int32GetDatum(p->parent);
		nulls[2] = p->parent < 0 ? 'n' : ' ';
		values[3] = Int32GetDatum(p->adjacent);
		nulls[3] = p->adjacent < 0 ? 'n' : ' ';
		values[4] = KinesisHashKeyToNumeric(p->start);
		values[5] = KinesisHashKeyToNumeric(p->end);
		values[6] = secs_timestamptz(p->create_secs);
		values[7] = secs_timestamptz(p->close_secs);
		nulls[7] = p->close_secs < 0 ? 'n' : ' ';

		if (p->created)
		{
			KinesisSpiExecNulls("INSERT INTO kinesis.shards (stream_id, shard_index,"
								" parent_shard_index, adjacent_parent_shard_index,"
								" starting_hash_key, ending_hash_key, created_at, closed_at)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
								8, types, values, nulls, owner, SPI_OK_INSERT);
			KinesisSpiExec("INSERT INTO kinesis.segments (stream_id, shard_index, segment,"
						   " start_counter, started_at)"
						   " VALUES ($1, $2, 0, 0, pg_catalog.statement_timestamp())",
						   2, types, values, owner, SPI_OK_INSERT);
			KinesisSpiExec(KinesisShardDDL(r->stream_id, p->index), 0, NULL, NULL,
						   KinesisRelationOwner(r->stream_relid), SPI_OK_UTILITY);
		}
		else if (p->closed)
			KinesisSpiExec("UPDATE kinesis.shards SET closed_at = $8"
						   " WHERE stream_id = $1 AND shard_index = $2",
						   8, types, values, owner, SPI_OK_UPDATE);
	}

	values[1] = Int32GetDatum(r->next_index);
	KinesisSpiExec("UPDATE kinesis.streams SET next_shard_index = $2 WHERE stream_id = $1",
				   2, types, values, owner, SPI_OK_UPDATE);
	record_event(r->stream_id, operation, before, after, detail);
	KinesisInvalidateStream(r->stream_relid);
	return after;
}

/*
 * Lock every table of a list in ExclusiveLock mode, waiting with a short
 * deadlock_timeout (a KinesisSubxactTry callback).
 */
static void
lock_all(void *arg)
{
	List	   *relids = arg;
	ListCell   *lc;
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("deadlock_timeout", RESHARD_DEADLOCK_TIMEOUT,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	foreach(lc, relids)
		LockRelationOid(lfirst_oid(lc), ExclusiveLock);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Lock the tables of the shards this reshard closes against their writers
 * and readers, in shard index order.  Writers lock the shards of one call
 * in the same order (put.c), so one statement never deadlocks with a
 * reshard; a transaction that wrote a higher shard in an earlier statement
 * and now waits for a lower one can.  The reshard then makes itself the
 * victim: it waits with a short deadlock_timeout, so it is the one that
 * detects the cycle, gives its locks back in a subtransaction rollback, and
 * tries again once the writer has gone on.
 */
static void
lock_parents(Reshard *r)
{
	List	   *indexes = NIL;
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, r->pieces)
	{
		Piece	   *p = lfirst(lc);

		if (p->closed && !p->created)
			indexes = lappend_int(indexes, p->index);
	}
	list_sort(indexes, list_int_cmp);
	foreach(lc, indexes)
		relids = lappend_oid(relids,
							 get_relname_relid(KinesisShardTableName(r->stream_id, lfirst_int(lc)),
											   KinesisDataNamespace()));

	if (list_length(relids) == 1)
	{
		LockRelationOid(linitial_oid(relids), ExclusiveLock);
		return;
	}

	while (!KinesisSubxactTry(lock_all, relids, ERRCODE_T_R_DEADLOCK_DETECTED, NULL))
		CHECK_FOR_INTERRUPTS();
	list_free(relids);
}

/*
 * Record a reshard or mode switch in kinesis.scaling_events.
 */
static void
record_event(int64 stream_id, const char *operation, int before, int after,
			 const char *detail)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT4OID, INT4OID, TEXTOID};
	Datum		values[5];

	values[0] = Int64GetDatum(stream_id);
	values[1] = CStringGetTextDatum(operation);
	values[2] = Int32GetDatum(before);
	values[3] = Int32GetDatum(after);
	values[4] = CStringGetTextDatum(detail);
	KinesisSpiExec("INSERT INTO kinesis.scaling_events (stream_id, operation,"
				   " open_shards_before, open_shards_after, detail)"
				   " VALUES ($1, $2, $3, $4, $5)",
				   5, types, values, KinesisExtensionOwner(), SPI_OK_INSERT);
}

/*
 * Raise KN004 when a stream already had limit operations of a kind in the
 * last 24 hours.
 */
static void
check_daily_limit(int64 stream_id, const char *stream_name, const char *operation,
				  int limit)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(stream_id);
	values[1] = CStringGetTextDatum(operation);
	KinesisSpiExec("SELECT count(*) FROM kinesis.scaling_events"
				   " WHERE stream_id = $1 AND operation = $2"
				   " AND happened_at > pg_catalog.now() - interval '24 hours'",
				   2, types, values, InvalidOid, SPI_OK_SELECT);
	if (KinesisSpiInt(0, 1, 0) >= limit)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("stream \"%s\" had %d %s operations in the last 24 hours",
						stream_name, limit, operation),
				 errdetail("At most %d are allowed per rolling 24 hours.", limit)));
}

/*
 * Raise KN008 unless the stream is PROVISIONED: ON_DEMAND streams reshard
 * themselves.
 */
static void
require_provisioned(const KinesisStreamRow *row)
{
	if (row->on_demand)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("stream \"%s\" is in ON_DEMAND mode", row->name),
				 errdetail("On-demand streams split and merge shards by themselves."),
				 errhint("Switch the stream to PROVISIONED with kinesis.update_stream_mode.")));
}

/*
 * The open piece named by a shard id argument: KN001 when the stream has
 * no such shard, KN003 when it is closed.
 */
static Piece *
shard_arg(Reshard *r, FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *shard_id;
	bool		ok;
	int32		index;
	Piece	   *p;

	KinesisRequireArg(fcinfo, argno, argname);
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	index = KinesisParseShardIndex(shard_id, &ok);
	p = ok ? open_piece(r, index) : NULL;
	if (p != NULL)
		return p;
	if (ok && index < r->next_index &&
		KinesisShardByIndex(KinesisStreamLookup(r->stream_name, false), index) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("shard \"%s\" in stream \"%s\" has already been merged or split",
						KinesisShardIdString(index), r->stream_name)));
	ereport(ERROR,
			(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
			 errmsg("shard \"%s\" does not exist in stream \"%s\"",
					shard_id, r->stream_name)));
	return NULL;
}

/*
 * Start a reshard requested by the stream's owner: catalog lock, checks,
 * plan.  Returns the GUC nest level for KinesisSpiEnd.
 */
static int
owner_reshard_begin(FunctionCallInfo fcinfo, const char *cmdname, Reshard *r,
					KinesisStreamRow *row)
{
	char	   *name = KinesisStreamNameArg(fcinfo, 0);
	int			nestlevel = KinesisControlBegin(cmdname);

	*row = KinesisStreamRowGet(name);
	KinesisRequireOwner(row);
	KinesisRequireActive(row);
	require_provisioned(row);
	reshard_begin(r, row);
	return nestlevel;
}

/*
 * kinesis.split_shard(stream_name, shard_to_split, new_starting_hash_key)
 */
Datum
kinesis_split_shard(PG_FUNCTION_ARGS)
{
	Reshard		r;
	KinesisStreamRow row;
	KinesisHashKey key;
	Piece	   *p;
	int			nestlevel;

	kinesis_check_loaded();
	KinesisRequireArg(fcinfo, 2, "new_starting_hash_key");
	key = KinesisHashKeyFromNumeric(PG_GETARG_DATUM(2), "new starting hash key", 0);
	nestlevel = owner_reshard_begin(fcinfo, "split_shard", &r, &row);
	p = shard_arg(&r, fcinfo, 1, "shard_to_split");

	/* each child needs at least two hash keys, as in Kinesis */
	if (key <= p->start + 1 || key >= p->end)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("new starting hash key %s does not lie inside shard \"%s\"",
						KinesisHashKeyToString(key), KinesisShardIdString(p->index)),
				 errdetail("It must be greater than one plus the shard's starting hash key %s and less than its ending hash key %s.",
						   KinesisHashKeyToString(p->start), KinesisHashKeyToString(p->end))));
	KinesisCheckShardLimit(1);

	plan_split(&r, p, key);
	reshard_apply(&r, "split_shard",
				  psprintf("%s split at %s", KinesisShardIdString(p->index),
						   KinesisHashKeyToString(key)));
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * kinesis.merge_shards(stream_name, shard_to_merge, adjacent_shard_to_merge)
 */
Datum
kinesis_merge_shards(PG_FUNCTION_ARGS)
{
	Reshard		r;
	KinesisStreamRow row;
	Piece	   *a;
	Piece	   *b;
	int			nestlevel;

	kinesis_check_loaded();
	nestlevel = owner_reshard_begin(fcinfo, "merge_shards", &r, &row);
	a = shard_arg(&r, fcinfo, 1, "shard_to_merge");
	b = shard_arg(&r, fcinfo, 2, "adjacent_shard_to_merge");
	if (a->end == KINESIS_HASH_KEY_MAX || a->end + 1 != b->start)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("shards \"%s\" and \"%s\" in stream \"%s\" are not an adjacent pair",
						KinesisShardIdString(a->index), KinesisShardIdString(b->index),
						r.stream_name),
				 errhint("The adjacent shard's hash key range must start right after the end of the shard to merge.")));

	plan_merge(&r, a, b);
	reshard_apply(&r, "merge_shards",
				  psprintf("%s and %s merged", KinesisShardIdString(a->index),
						   KinesisShardIdString(b->index)));
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Plan uniform scaling to target open shards: split every open shard at
 * the target boundaries inside it, then merge the pieces of each target
 * range pairwise.  Every shard gets one parent (split) or two (merge).
 */
static void
plan_uniform(Reshard *r, int target)
{
	List	   *pieces;
	ListCell   *lc;
	int			k;

	/* phase 1: every target boundary becomes a shard boundary */
	pieces = open_pieces(r);
	foreach(lc, pieces)
	{
		Piece	   *p = lfirst(lc);

		for (k = 1; k < target; k++)
		{
			KinesisHashKey start,
						end;

			KinesisInitialRange(k, target, &start, &end);
			if (start > p->start && start <= p->end)
			{
				plan_split(r, p, start);
				p = llast(r->pieces);	/* go on with the upper child */
			}
		}
	}

	/* phase 2: one shard per target range */
	for (k = 0; k < target; k++)
	{
		KinesisHashKey start,
					end;
		Piece	   *acc = NULL;

		KinesisInitialRange(k, target, &start, &end);
		pieces = open_pieces(r);
		list_sort(pieces, piece_cmp_start);
		foreach(lc, pieces)
		{
			Piece	   *p = lfirst(lc);

			if (p->start < start || p->end > end)
				continue;
			acc = acc ? plan_merge(r, acc, p) : p;
		}
	}
}

/*
 * kinesis.update_shard_count(stream_name, target_shard_count, scaling_type)
 *		RETURNS kinesis.shard_count_update
 */
Datum
kinesis_update_shard_count(PG_FUNCTION_ARGS)
{
	static const char *const scaling_types[] = {"UNIFORM_SCALING"};
	Reshard		r;
	KinesisStreamRow row;
	int			target;
	int			current;
	int			nestlevel;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	kinesis_check_loaded();
	KinesisRequireArg(fcinfo, 1, "target_shard_count");
	KinesisRequireArg(fcinfo, 2, "scaling_type");
	(void) KinesisEnumValue(text_to_cstring(PG_GETARG_TEXT_PP(2)), scaling_types,
							lengthof(scaling_types), "scaling type");
	target = PG_GETARG_INT32(1);
	if (target < 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("target shard count must be at least 1"),
				 errdetail("The target shard count given was %d.", target)));

	nestlevel = owner_reshard_begin(fcinfo, "update_shard_count", &r, &row);
	current = list_length(open_pieces(&r));
	if (target > 2 * current || 2 * target < current)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("target shard count %d of stream \"%s\" is out of range", target, row.name),
				 errdetail("A stream with %d open shards can be scaled to between %d and %d shards at once.",
						   current, (current + 1) / 2, 2 * current)));
	check_daily_limit(row.stream_id, row.name, "update_shard_count",
					  MAX_SHARD_COUNT_UPDATES_PER_DAY);
	if (target > current)
		KinesisCheckShardLimit(target - current);

	if (target != current)
	{
		plan_uniform(&r, target);
		reshard_apply(&r, "update_shard_count",
					  psprintf("uniform scaling from %d to %d shards", current, target));
	}
	KinesisSpiEnd(nestlevel);

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "update_shard_count must return a composite type");
	values[0] = CStringGetTextDatum(row.name);
	values[1] = Int32GetDatum(current);
	values[2] = Int32GetDatum(target);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * kinesis.update_stream_mode(stream_name, stream_mode)
 */
Datum
kinesis_update_stream_mode(PG_FUNCTION_ARGS)
{
	static const char *const modes[] = {"PROVISIONED", "ON_DEMAND"};
	KinesisStreamRow row;
	char	   *name;
	int			mode;
	int			nestlevel;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "stream_mode");
	mode = KinesisEnumValue(text_to_cstring(PG_GETARG_TEXT_PP(1)), modes,
							lengthof(modes), "stream mode");

	nestlevel = KinesisControlBegin("update_stream_mode");
	row = KinesisStreamRowGet(name);
	KinesisRequireOwner(&row);
	KinesisRequireActive(&row);
	if ((mode == KINESIS_MODE_ON_DEMAND) != row.on_demand)
	{
		check_daily_limit(row.stream_id, row.name, "update_stream_mode",
						  MAX_MODE_SWITCHES_PER_DAY);
		values[0] = Int64GetDatum(row.stream_id);
		values[1] = CStringGetTextDatum(modes[mode]);
		KinesisSpiExec("UPDATE kinesis.streams SET stream_mode = $2 WHERE stream_id = $1",
					   2, types, values, KinesisExtensionOwner(), SPI_OK_UPDATE);
		record_event(row.stream_id, "update_stream_mode", -1, -1,
					 psprintf("switched to %s", modes[mode]));
		if (OidIsValid(row.relid))
			KinesisInvalidateStream(row.relid);
	}
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Split a shard of an on-demand stream in the middle of its hash range
 * (adjacent < 0), or merge it with the adjacent shard, for autoscaling
 * (autoscale.c).  Called by a maintenance pass, which has SPI connected.
 * Does nothing when the stream or the shards changed since the decision.
 */
void
KinesisAutoscaleReshard(const char *stream_name, int32 index, int32 adjacent,
						const char *detail)
{
	KinesisStreamRow row;
	Reshard		r;
	Piece	   *a;
	Piece	   *b;

	KinesisSpiExec("LOCK TABLE kinesis.streams IN SHARE ROW EXCLUSIVE MODE",
				   0, NULL, NULL, KinesisExtensionOwner(), SPI_OK_UTILITY);
	row = KinesisStreamRowGet(stream_name);
	if (!row.on_demand || strcmp(row.status, "ACTIVE") != 0)
		return;
	reshard_begin(&r, &row);
	a = open_piece(&r, index);
	if (a == NULL)
		return;

	if (adjacent < 0)
	{
		KinesisHashKey key = a->start + (a->end - a->start) / 2 + 1;

		if (key <= a->start + 1 || key >= a->end)
			return;
		KinesisCheckShardLimit(1);
		plan_split(&r, a, key);
		reshard_apply(&r, "autoscale_split", detail);
		return;
	}

	b = open_piece(&r, adjacent);
	if (b == NULL || a->end == KINESIS_HASH_KEY_MAX || a->end + 1 != b->start)
		return;
	plan_merge(&r, a, b);
	reshard_apply(&r, "autoscale_merge", detail);
}
