/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  The periodic work on a database's streams: flushing metrics, rotating
 *	  and trimming the segments of each shard (retention), dropping closed
 *	  shards whose records have all expired, and autoscaling ON_DEMAND
 *	  streams (autoscale.c).
 *
 * The per-database background worker (worker.c) runs a pass every
 * kinesis.maintenance_interval; with workers off, kinesis.run_maintenance()
 * runs the same pass, e.g. from pg_cron.
 *
 * Retention.  Each shard's table is partitioned into three segments used
 * as a ring.  New records go to the current segment.  Once the current
 * segment is older than half the retention period, the pass makes the
 * next one current, truncating it first when it exists: that is allowed
 * only when everything it holds has expired, i.e. when the segment after
 * it started before the retention cutoff (counters are microsecond clock
 * values at least equal to their record's arrival time, see stable.c).
 * Records thus stay physically at most 1.5 retention periods, and are
 * never removed by DELETE.  Readers already skip expired records.
 *
 * Processes: client backends (run_maintenance) and maintenance workers.
 *
 * Locking: a rotation takes ExclusiveLock on the shard's table, which
 * waits for the shard's writers (RowExclusiveLock) and readers
 * (RowShareLock) and keeps them out until the rotation commits; the new
 * current segment is published in shared memory at commit (stable.c), so
 * writers that were waiting use it.  Every shard is handled in its own
 * subtransaction under a short lock_timeout: a shard held by a long
 * transaction is skipped and retried on the next pass.  Dropping an
 * expired closed shard takes AccessExclusiveLock on its table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "kinesis.h"

/* Seconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* How long a pass waits for a shard's lock before skipping it */
#define MAINTENANCE_LOCK_TIMEOUT	"200ms"

PG_FUNCTION_INFO_V1(kinesis_run_maintenance);

/* What a pass did, one row per action (kinesis.run_maintenance's result) */
typedef struct MaintenanceLog
{
	Tuplestorestate *store;		/* NULL: log at DEBUG1 only */
	TupleDesc	desc;
	int			actions;
} MaintenanceLog;

/* A segment of a shard as the catalog knows it */
typedef struct SegmentRow
{
	bool		exists;
	int64		start_counter;	/* Unix microseconds */
	TimestampTz started_at;
} SegmentRow;

static void
log_action(MaintenanceLog *log, const char *stream, int32 shard_index,
		   const char *action, const char *detail)
{
	log->actions++;
	elog(DEBUG1, "kinesis maintenance: %s %s of stream \"%s\": %s", action,
		 KinesisShardIdString(shard_index), stream, detail);
	if (log->store)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(stream);
		values[1] = CStringGetTextDatum(KinesisShardIdString(shard_index));
		values[2] = CStringGetTextDatum(action);
		values[3] = CStringGetTextDatum(detail);
		tuplestore_putvalues(log->store, log->desc, values, nulls);
	}
}

/*
 * The catalog's segments of a shard.
 */
static void
load_segments(int64 stream_id, int32 shard_index, SegmentRow *rows)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];
	uint64		i;

	memset(rows, 0, sizeof(SegmentRow) * KINESIS_SEGMENTS);
	values[0] = Int64GetDatum(stream_id);
	values[1] = Int32GetDatum(shard_index);
	KinesisSpiExec("SELECT segment, start_counter, started_at FROM kinesis.segments"
				   " WHERE stream_id = $1 AND shard_index = $2",
				   2, types, values, InvalidOid, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		int			segment = (int) KinesisSpiInt(i, 1, 0);

		if (segment < 0 || segment >= KINESIS_SEGMENTS)
			continue;
		rows[segment].exists = true;
		rows[segment].start_counter = KinesisSpiInt(i, 2, 0);
		rows[segment].started_at = KinesisSpiInt(i, 3, 0);
	}
}

/*
 * Rotate a shard's segments when its current one is old enough and the
 * next one, if it exists, holds only expired records.  Returns a
 * description of what it did, or NULL.
 */
static char *
rotate_shard(KinesisStream *stream, KinesisShard *shard, Oid owner,
			 TimestampTz now)
{
	SegmentRow	rows[KINESIS_SEGMENTS];
	int64		retention = (int64) stream->retention_hours * USECS_PER_HOUR;
	int64		cutoff_counter = now - retention + UNIX_TO_PG_USECS;
	int16		current;
	int16		next;
	int16		after_next;
	Oid			types[5] = {INT8OID, INT4OID, INT2OID, INT8OID, TIMESTAMPTZOID};
	Datum		values[5];
	char	   *detail;

	load_segments(stream->stream_id, shard->shard_index, rows);
	current = shard->catalog_segment;
	next = (current + 1) % KINESIS_SEGMENTS;
	after_next = (next + 1) % KINESIS_SEGMENTS;

	if (!rows[current].exists || now - rows[current].started_at < retention / 2)
		return NULL;
	/* the next segment's records end where the one after it starts */
	if (rows[next].exists &&
		(!rows[after_next].exists || rows[after_next].start_counter > cutoff_counter))
		return NULL;

	/* keep writers and readers out until the switch is published */
	LockRelationOid(shard->relid, ExclusiveLock);
	KinesisStableAttach(stream, shard);
	if (shard->state->segment != current)
		return NULL;			/* rotated meanwhile by another pass */

	if (rows[next].exists)
	{
		KinesisSpiExec(psprintf("TRUNCATE %s",
								quote_qualified_identifier(KINESIS_DATA_SCHEMA,
														   KinesisSegmentTableName(stream->stream_id,
																				   shard->shard_index,
																				   next))),
					   0, NULL, NULL, owner, SPI_OK_UTILITY);
		detail = psprintf("segment %d truncated and made current", next);
	}
	else
	{
		KinesisSpiExec(KinesisSegmentDDL(stream->stream_id, shard->shard_index, next),
					   0, NULL, NULL, owner, SPI_OK_UTILITY);
		detail = psprintf("segment %d created and made current", next);
	}

	values[0] = Int64GetDatum(stream->stream_id);
	values[1] = Int32GetDatum(shard->shard_index);
	values[2] = Int16GetDatum(next);
	values[3] = Int64GetDatum(KinesisStableNextCounter(shard));
	values[4] = TimestampTzGetDatum(now);
	KinesisSpiExec("INSERT INTO kinesis.segments AS s (stream_id, shard_index, segment,"
				   " start_counter, started_at)"
				   " VALUES ($1, $2, $3, $4, $5)"
				   " ON CONFLICT (stream_id, shard_index, segment) DO UPDATE"
				   " SET start_counter = EXCLUDED.start_counter,"
				   " started_at = EXCLUDED.started_at",
				   5, types, values, KinesisExtensionOwner(), SPI_OK_INSERT);
	KinesisSpiExec("UPDATE kinesis.shards SET current_segment = $3"
				   " WHERE stream_id = $1 AND shard_index = $2",
				   3, types, values, KinesisExtensionOwner(), SPI_OK_UPDATE);
	KinesisInvalidateStream(stream->relid);
	KinesisStableSwitchSegment(stream, shard, next);
	return detail;
}

/*
 * Drop a closed shard whose records have all expired; it leaves
 * list_shards.  Returns a description, or NULL.
 */
static char *
expire_shard(KinesisStream *stream, KinesisShard *shard, Oid owner,
			 TimestampTz now)
{
	int64		cutoff_secs = (now - (int64) stream->retention_hours * USECS_PER_HOUR) /
		USECS_PER_SEC + UNIX_TO_PG_USECS / USECS_PER_SEC;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];

	if (shard->close_secs < 0 || shard->close_secs >= cutoff_secs)
		return NULL;

	LockRelationOid(shard->relid, AccessExclusiveLock);
	KinesisSpiExec(psprintf("DROP TABLE %s",
							quote_qualified_identifier(KINESIS_DATA_SCHEMA,
													   KinesisShardTableName(stream->stream_id,
																			 shard->shard_index))),
				   0, NULL, NULL, owner, SPI_OK_UTILITY);
	values[0] = Int64GetDatum(stream->stream_id);
	values[1] = Int32GetDatum(shard->shard_index);
	KinesisSpiExec("UPDATE kinesis.shards SET expired_at = pg_catalog.statement_timestamp()"
				   " WHERE stream_id = $1 AND shard_index = $2",
				   2, types, values, KinesisExtensionOwner(), SPI_OK_UPDATE);
	KinesisInvalidateStream(stream->relid);
	KinesisStableForgetShard(stream->stream_id, shard->shard_index);
	return pstrdup("closed shard expired and dropped");
}

/* What a maintenance step works on */
typedef struct StepArgs
{
	KinesisStream *stream;
	KinesisShard *shard;		/* NULL for autoscaling */
	Oid			owner;			/* the stream's owner */
	TimestampTz now;
	KinesisAutoscaleDecision decision;
} StepArgs;

/* A step: does its work and returns a description, or NULL if none */
typedef char *(*MaintenanceStep) (StepArgs *args);

static char *
expire_step(StepArgs *args)
{
	return expire_shard(args->stream, args->shard, args->owner, args->now);
}

static char *
rotate_step(StepArgs *args)
{
	return rotate_shard(args->stream, args->shard, args->owner, args->now);
}

static char *
autoscale_step(StepArgs *args)
{
	KinesisAutoscaleReshard(args->stream->name, args->decision.shard_index,
							args->decision.adjacent_index, args->decision.detail);
	return args->decision.detail;
}

/* A step running in a subtransaction, and its result */
typedef struct RunningStep
{
	StepArgs   *args;
	MaintenanceStep step;
	char	   *detail;
} RunningStep;

static void
call_step(void *arg)
{
	RunningStep *running = arg;

	running->detail = running->step(running->args);
}

/*
 * Run one maintenance step in a subtransaction.  An error of SQLSTATE
 * tolerated (KINESIS_ANY_ERROR: any) does not stop the pass: a lock
 * timeout (a shard busy with a long transaction) is reported as such,
 * other failures are reported and logged.
 */
static void
run_step(MaintenanceLog *log, StepArgs *args, int32 shard_index, const char *action,
		 MaintenanceStep step, int tolerated)
{
	RunningStep running = {args, step, NULL};
	char	   *message = NULL;

	if (KinesisSubxactTry(call_step, &running, tolerated, &message))
	{
		if (running.detail)
			log_action(log, args->stream->name, shard_index, action, running.detail);
	}
	else if (tolerated == ERRCODE_LOCK_NOT_AVAILABLE)
		log_action(log, args->stream->name, shard_index, "skip",
				   "shard busy, retried on the next pass");
	else
	{
		ereport(LOG,
				(errmsg("kinesis maintenance could not %s in stream \"%s\": %s",
						action, args->stream->name, message)));
		log_action(log, args->stream->name, shard_index, "skip",
				   psprintf("%s failed: %s", action, message));
	}
}

/*
 * Maintain one stream: rotate or expire each shard, then autoscale.
 */
static void
maintain_stream(MaintenanceLog *log, KinesisStream *stream, TimestampTz now)
{
	StepArgs	args;
	int			j;

	args.stream = stream;
	args.owner = KinesisRelationOwner(stream->relid);
	args.now = now;
	for (j = 0; j < stream->nshards; j++)
	{
		KinesisShard *shard = &stream->shards[j];
		bool		closed = shard->close_secs >= 0;

		CHECK_FOR_INTERRUPTS();
		args.shard = shard;
		run_step(log, &args, shard->shard_index, closed ? "expire" : "rotate",
				 closed ? expire_step : rotate_step, ERRCODE_LOCK_NOT_AVAILABLE);
	}

	/* the steps above may have invalidated the stream's cache entry */
	stream = KinesisStreamLookup(args.stream->name, true);
	if (stream == NULL || !KinesisAutoscalePlan(stream, GetCurrentTimestamp(), &args.decision))
		return;
	args.stream = stream;
	args.shard = NULL;
	run_step(log, &args, args.decision.shard_index,
			 args.decision.adjacent_index < 0 ? "split" : "merge", autoscale_step,
			 KINESIS_ANY_ERROR);
}

/*
 * One maintenance pass over every stream of the current database.  The
 * caller is in a transaction.
 */
static void
maintenance_pass(MaintenanceLog *log)
{
	int			nestlevel = KinesisSpiBegin();
	TimestampTz now = KinesisNow();
	List	   *names = NIL;
	ListCell   *lc;
	uint64		i;

	/* before lock_timeout: it waits for a concurrent flush to commit */
	KinesisMetricsFlush();

	(void) set_config_option("lock_timeout", MAINTENANCE_LOCK_TIMEOUT,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);

	KinesisSpiExec("SELECT stream_name FROM kinesis.streams ORDER BY stream_id",
				   0, NULL, NULL, InvalidOid, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
		names = lappend(names, KinesisSpiText(i, 1));

	foreach(lc, names)
	{
		KinesisStream *stream = KinesisStreamLookup(lfirst(lc), true);

		if (stream != NULL && stream->status == KINESIS_STATUS_ACTIVE)
			maintain_stream(log, stream, now);
	}
	KinesisSpiEnd(nestlevel);
}

/*
 * Run a maintenance pass; returns how many actions it took.  Used by the
 * per-database worker.
 */
int
KinesisMaintenance(void)
{
	MaintenanceLog log = {NULL, NULL, 0};

	maintenance_pass(&log);
	return log.actions;
}

/*
 * kinesis.run_maintenance() RETURNS TABLE(stream_name text, shard_id text,
 *										   action text, detail text)
 */
Datum
kinesis_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MaintenanceLog log;

	kinesis_check_loaded();
	PreventCommandIfReadOnly("run_maintenance");
	InitMaterializedSRF(fcinfo, 0);
	log.store = rsinfo->setResult;
	log.desc = rsinfo->setDesc;
	log.actions = 0;
	maintenance_pass(&log);
	return (Datum) 0;
}
