/*-------------------------------------------------------------------------
 *
 * application.c
 *	  Consumer applications, the KCL inside PostgreSQL: create_application,
 *	  drop_application, acquire_leases, checkpoint, release_leases.
 *
 * An application is a named consumer of one stream (it is registered as a
 * stream consumer under its own name) with a lease per shard in
 * kinesis.leases, as in the KCL lease table (spec/kcl-kpl-agent.md A.2):
 * owner, lease counter, checkpoint, SHARD_END, owner switches since the
 * last checkpoint.  Workers call acquire_leases regularly: it renews the
 * caller's leases (server time), takes leases whose owner has been silent
 * longer than the application's failover time, balances the leases evenly
 * over the live workers and, when nothing is free, steals one from the
 * most loaded worker.  A child shard's lease is handed out only once all
 * its parents were checkpointed at SHARD_END (their ending sequence
 * number).  consume() does that itself for a closed shard once no record
 * follows the lease's checkpoint, and checkpoint() refuses a SHARD_END
 * that would skip a record: an empty read before the shard closed proves
 * nothing, since a put may commit in between.
 *
 * Fencing: the lease counter changes with every change of owner, and the
 * token a worker got with a lease is that counter.  checkpoint() locks the
 * lease row and refuses (KN003) a token that is no longer the lease's, so
 * a worker that lost its lease can move nobody's checkpoint; nor can a
 * checkpoint move backwards.  checkpoint() writes in the caller's
 * transaction: results and checkpoint commit together.
 *
 * Processes: client backends.  Locking: acquire_leases and
 * release_leases lock the application's row (FOR NO KEY UPDATE, which
 * leaves the foreign-key checks of lease updates alone), so they take
 * turns per application; checkpoint locks the lease's row.  The catalog
 * is written as the extension owner; callers need SELECT on the stream.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "kinesis.h"

PG_FUNCTION_INFO_V1(kinesis_create_application);
PG_FUNCTION_INFO_V1(kinesis_drop_application);
PG_FUNCTION_INFO_V1(kinesis_acquire_leases);
PG_FUNCTION_INFO_V1(kinesis_checkpoint);
PG_FUNCTION_INFO_V1(kinesis_release_leases);
PG_FUNCTION_INFO_V1(kinesis_consume);
PG_FUNCTION_INFO_V1(kinesis_checkpoint_lag);

#define MIN_FAILOVER_MS		100
#define MAX_FAILOVER_MS		86400000
#define MAX_WORKER_ID_LEN	256

/* An application's catalog row */
typedef struct AppRow
{
	const char *name;
	int64		stream_id;
	char	   *stream_name;
	int32		failover_ms;
} AppRow;

/*
 * The worker_id argument: 1 to 256 characters.
 */
static char *
worker_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *worker;

	KinesisRequireArg(fcinfo, argno, "worker_id");
	worker = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (worker[0] == '\0' || strlen(worker) > MAX_WORKER_ID_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("worker id must have 1 to %d characters", MAX_WORKER_ID_LEN)));
	return worker;
}

/*
 * Read an application's row, locking it when lock; KN001 when there is
 * none.  SPI is connected.
 */
static AppRow
app_get(const char *name, bool lock)
{
	Oid			type = TEXTOID;
	Datum		value = CStringGetTextDatum(name);
	AppRow		app;

#define APP_QUERY \
	"SELECT a.stream_id, s.stream_name, a.failover_time_ms" \
	" FROM kinesis.applications a JOIN kinesis.streams s USING (stream_id)" \
	" WHERE a.application_name = $1"

	if (lock)
		KinesisSpiExecSaved(APP_QUERY " FOR NO KEY UPDATE OF a", 1, &type, &value, NULL,
							KinesisExtensionOwner(), SPI_OK_SELECT);
	else
		KinesisSpiExecSaved(APP_QUERY, 1, &type, &value, NULL, InvalidOid, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("application \"%s\" does not exist", name)));
	app.name = name;
	app.stream_id = KinesisSpiInt(0, 1, 0);
	app.stream_name = KinesisSpiText(0, 2);
	app.failover_ms = (int32) KinesisSpiInt(0, 3, 10000);
	return app;
}

/*
 * The cached stream of an application, after checking that the caller may
 * read it.
 */
static KinesisStream *
app_stream(AppRow *app)
{
	KinesisStream *stream = KinesisStreamLookup(app->stream_name, false);

	KinesisCheckStreamPrivilege(stream, ACL_SELECT);
	return stream;
}

/*
 * Create the lease of each shard of the stream: at the trim horizon
 * (checkpoint NULL), or for LATEST at the newest position of each open
 * shard, closed shards counting as done.
 */
static void
create_leases(const char *app, KinesisStream *stream, bool latest)
{
	Oid			types[4] = {TEXTOID, INT4OID, NUMERICOID, BOOLOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', 'n', ' '};
	int			i;

	values[0] = CStringGetTextDatum(app);
	for (i = 0; i < stream->nshards; i++)
	{
		KinesisShard *shard = &stream->shards[i];
		bool		closed = shard->close_secs >= 0;

		values[1] = Int32GetDatum(shard->shard_index);
		nulls[2] = 'n';
		if (latest && !closed)
		{
			values[2] = KinesisShardLatestSeqNo(stream, shard);
			nulls[2] = ' ';
		}
		values[3] = BoolGetDatum(latest && closed);
		KinesisSpiExecNulls("INSERT INTO kinesis.leases (application_name, shard_index,"
							" checkpoint, shard_end) VALUES ($1, $2, $3, $4)",
							4, types, values, nulls, KinesisExtensionOwner(), SPI_OK_INSERT);
	}
}

/*
 * kinesis.create_application(application_name, stream_name,
 *							  initial_position, failover_time_ms)
 */
Datum
kinesis_create_application(PG_FUNCTION_ARGS)
{
	static const char *const positions[] = {"TRIM_HORIZON", "LATEST"};
	char	   *name;
	char	   *stream_name;
	int			position;
	int32		failover;
	int			nestlevel;
	KinesisStreamRow row;
	KinesisStream *stream;
	Oid			types[4] = {TEXTOID, INT8OID, TEXTOID, INT4OID};
	Datum		values[4];

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");
	stream_name = KinesisStreamNameArg(fcinfo, 1);
	KinesisRequireArg(fcinfo, 2, "initial_position");
	position = KinesisEnumValue(text_to_cstring(PG_GETARG_TEXT_PP(2)), positions,
								lengthof(positions), "initial position");
	KinesisRequireArg(fcinfo, 3, "failover_time_ms");
	failover = PG_GETARG_INT32(3);
	if (failover < MIN_FAILOVER_MS || failover > MAX_FAILOVER_MS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("failover_time_ms must be between %d and %d", MIN_FAILOVER_MS,
						MAX_FAILOVER_MS)));

	nestlevel = KinesisControlBegin("create_application");
	row = KinesisStreamRowGet(stream_name);
	KinesisRequireActive(&row);
	stream = KinesisStreamLookup(stream_name, false);
	KinesisCheckStreamPrivilege(stream, ACL_SELECT);

	values[0] = CStringGetTextDatum(name);
	KinesisSpiExecNulls("SELECT FROM kinesis.applications WHERE application_name = $1",
						1, types, values, NULL, InvalidOid, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
				 errmsg("application \"%s\" already exists", name)));

	(void) KinesisConsumerRegister(&row, name);
	values[1] = Int64GetDatum(row.stream_id);
	values[2] = CStringGetTextDatum(positions[position]);
	values[3] = Int32GetDatum(failover);
	KinesisSpiExecNulls("INSERT INTO kinesis.applications (application_name, stream_id,"
						" initial_position, failover_time_ms) VALUES ($1, $2, $3, $4)",
						4, types, values, NULL, KinesisExtensionOwner(), SPI_OK_INSERT);
	/* registering invalidated the cached stream */
	create_leases(name, KinesisStreamLookup(stream_name, false), position == 1);

	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * kinesis.drop_application(application_name): the application, its leases
 * and checkpoints, and its registration as a stream consumer.
 */
Datum
kinesis_drop_application(PG_FUNCTION_ARGS)
{
	char	   *name;
	int			nestlevel;
	AppRow		app;
	KinesisStreamRow row;
	Oid			type = TEXTOID;
	Datum		value;

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");

	nestlevel = KinesisControlBegin("drop_application");
	app = app_get(name, true);
	(void) app_stream(&app);
	row = KinesisStreamRowGet(app.stream_name);
	value = CStringGetTextDatum(name);
	KinesisSpiExecNulls("DELETE FROM kinesis.applications WHERE application_name = $1",
						1, &type, &value, NULL, KinesisExtensionOwner(), SPI_OK_DELETE);
	KinesisConsumerRemove(&row, name);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Leases that can be worked on: not finished, and every parent finished
 * (or expired, leaving no lease).  $1 application, $3 stream id.
 */
#define WORKABLE_LEASES \
	"SELECT l.* FROM kinesis.leases l" \
	" JOIN kinesis.shards s ON s.stream_id = $3 AND s.shard_index = l.shard_index" \
	" WHERE l.application_name = $1 AND NOT l.shard_end" \
	" AND NOT EXISTS (SELECT FROM kinesis.leases p WHERE p.application_name = $1" \
	" AND p.shard_index IN (s.parent_shard_index, s.adjacent_parent_shard_index)" \
	" AND NOT p.shard_end)"

/*
 * The new values of a lease that worker $2 takes: a new token, one more
 * owner switch unless it was $2's already, renewed now
 */
#define TAKE_LEASE \
	"lease_owner = $2, lease_counter = t.lease_counter + 1," \
	" owner_switches_since_checkpoint = t.owner_switches_since_checkpoint" \
	"   + (t.lease_owner IS DISTINCT FROM $2)::int," \
	" renewed_at = pg_catalog.now()"

/* A lease is expired when its owner has been silent longer than $4 ms */
#define EXPIRED "l.renewed_at <= pg_catalog.now() - pg_catalog.make_interval(secs => $4 / 1000.0)"

/*
 * consume renews a lease only when it was last renewed a third of the
 * failover time ago (the KCL's renewal period), so that most consume calls
 * write nothing: no WAL flush at commit, no dead lease rows.
 */
#define RENEWAL_AGE "pg_catalog.make_interval(secs => $4 / 3000.0)"

/*
 * Bring the leases in line with the shards: a lease for each new shard (at
 * the trim horizon), none for expired ones.
 */
static void
sync_leases(Datum *values, Oid *types)
{
	Oid			owner = KinesisExtensionOwner();

	KinesisSpiExecSaved("INSERT INTO kinesis.leases (application_name, shard_index)"
						" SELECT $1, shard_index FROM kinesis.shards"
						" WHERE stream_id = $3 AND expired_at IS NULL"
						" AND NOT EXISTS (SELECT FROM kinesis.leases l WHERE l.application_name = $1"
						" AND l.shard_index = kinesis.shards.shard_index)"
						" ON CONFLICT DO NOTHING",
						4, types, values, NULL, owner, SPI_OK_INSERT);
	KinesisSpiExecSaved("DELETE FROM kinesis.leases l WHERE application_name = $1"
						" AND NOT EXISTS (SELECT FROM kinesis.shards s WHERE s.stream_id = $3"
						" AND s.shard_index = l.shard_index AND s.expired_at IS NULL)",
						4, types, values, NULL, owner, SPI_OK_DELETE);
}

/*
 * Take up to n workable leases that nobody holds or whose owner went
 * silent; returns how many were taken.
 */
static int64
take_free(Datum *values, Oid *types, int64 n)
{
	values[4] = Int64GetDatum(n);
	KinesisSpiExecSaved("UPDATE kinesis.leases t SET " TAKE_LEASE
						" WHERE t.application_name = $1"
						" AND (t.lease_owner IS NULL OR t.renewed_at <= pg_catalog.now()"
						"  - pg_catalog.make_interval(secs => $4 / 1000.0))"
						" AND t.shard_index IN ("
						"  SELECT l.shard_index FROM (" WORKABLE_LEASES ") l"
						"  WHERE (l.lease_owner IS NULL OR " EXPIRED ")"
						"  ORDER BY l.shard_index LIMIT $5)",
						5, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);
	return (int64) SPI_processed;
}

/*
 * Steal one workable lease from the live worker holding the most, when it
 * holds more than target.
 */
static void
steal_one(Datum *values, Oid *types, int64 target)
{
	values[4] = Int64GetDatum(target);
	KinesisSpiExecSaved("UPDATE kinesis.leases t SET " TAKE_LEASE
						" WHERE t.application_name = $1 AND t.shard_index = ("
						"  SELECT max(l.shard_index) FROM (" WORKABLE_LEASES ") l"
						"  WHERE l.lease_owner = (SELECT l2.lease_owner FROM (" WORKABLE_LEASES ") l2"
						"   WHERE l2.lease_owner IS NOT NULL AND l2.lease_owner <> $2"
						"   AND NOT (" EXPIRED ")"
						"   GROUP BY l2.lease_owner HAVING count(*) > $5"
						"   ORDER BY count(*) DESC, l2.lease_owner LIMIT 1))",
						5, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);
}

/*
 * kinesis.acquire_leases(application_name, worker_id, max_leases)
 *		RETURNS TABLE(shard_id text, lease_token bigint, checkpoint numeric)
 */
Datum
kinesis_acquire_leases(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	char	   *worker;
	int32		max_leases = -1;
	int			nestlevel;
	AppRow		app;
	Oid			types[5] = {TEXTOID, TEXTOID, INT8OID, INT4OID, INT8OID};
	Datum		values[5];
	int64		workable,
				workers,
				mine,
				target,
				taken;
	uint64		i;

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");
	worker = worker_arg(fcinfo, 1);
	if (!PG_ARGISNULL(2))
	{
		max_leases = PG_GETARG_INT32(2);
		if (max_leases < 1)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_VALIDATION),
					 errmsg("max_leases must be at least 1")));
	}
	PreventCommandIfReadOnly("acquire_leases");
	InitMaterializedSRF(fcinfo, 0);

	nestlevel = KinesisSpiBegin();
	app = app_get(name, true);
	(void) app_stream(&app);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(worker);
	values[2] = Int64GetDatum(app.stream_id);
	values[3] = Int32GetDatum(app.failover_ms);
	values[4] = Int64GetDatum(0);

	sync_leases(values, types);
	KinesisSpiExecSaved("UPDATE kinesis.leases SET renewed_at = pg_catalog.now()"
						" WHERE application_name = $1 AND lease_owner = $2",
						2, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);

	/* the live workers share the workable leases evenly */
	KinesisSpiExecSaved("SELECT count(*),"
						" count(DISTINCT l.lease_owner) FILTER (WHERE l.lease_owner <> $2"
						"   AND NOT (" EXPIRED ")) + 1,"
						" count(*) FILTER (WHERE l.lease_owner = $2)"
						" FROM (" WORKABLE_LEASES ") l",
						4, types, values, NULL, InvalidOid, SPI_OK_SELECT);
	workable = KinesisSpiInt(0, 1, 0);
	workers = KinesisSpiInt(0, 2, 1);
	mine = KinesisSpiInt(0, 3, 0);
	target = (workable + workers - 1) / workers;
	if (max_leases > 0)
		target = Min(target, max_leases);

	if (mine < target)
	{
		taken = take_free(values, types, target - mine);
		if (taken == 0)
			steal_one(values, types, target);
	}

	KinesisSpiExecSaved("SELECT 'shardId-' || pg_catalog.lpad(l.shard_index::text, 12, '0'),"
						" l.lease_counter, l.checkpoint"
						" FROM (" WORKABLE_LEASES ") l WHERE l.lease_owner = $2"
						" ORDER BY l.shard_index",
						4, types, values, NULL, InvalidOid, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row[3];
		bool		nulls[3] = {false, false, false};

		row[0] = CStringGetTextDatum(KinesisSpiText(i, 1));
		row[1] = Int64GetDatum(KinesisSpiInt(i, 2, 0));
		row[2] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &nulls[2]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	KinesisSpiEnd(nestlevel);
	return (Datum) 0;
}

/*
 * A checkpoint at SHARD_END says that every record of the closed shard was
 * processed: refuse it (KN003) while a record follows the lease's current
 * checkpoint (0 for none).  The shard is locked: its closing committed,
 * so all its records are final.
 */
static void
refuse_skipping(const char *name, KinesisStream *stream, KinesisShard *shard, Datum current)
{
	int64		after = -1;
	Datum		next;

	if (current != (Datum) 0)
		after = KinesisShardCounter(current, stream, shard, "checkpoint");
	if (after == KINESIS_MAX_COUNTER)
		return;
	next = KinesisShardNextSeqNo(stream, shard, after);
	if (next != (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("checkpoint of application \"%s\" at the end of shard \"%s\" would skip records",
						name, KinesisShardIdString(shard->shard_index)),
				 errdetail("Record %s follows the checkpoint.",
						   DatumGetCString(DirectFunctionCall1(numeric_out, next))),
				 errhint("Checkpoint the shard's records first; kinesis.consume checkpoints a closed shard at its end once no record follows the checkpoint.")));
}

/*
 * kinesis.checkpoint(application_name, shard_id, sequence_number,
 *					  lease_token)
 */
Datum
kinesis_checkpoint(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *shard_id;
	Datum		seqnum;
	int64		token;
	int			nestlevel;
	AppRow		app;
	KinesisStream *stream;
	KinesisShard *shard;
	int64		counter;
	Oid			types[4] = {TEXTOID, INT4OID, NUMERICOID, BOOLOID};
	Datum		values[4];
	bool		isnull;
	char	   *owner;
	int64		lease_counter;
	Datum		current;
	bool		shard_end;

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");
	KinesisRequireArg(fcinfo, 1, "shard_id");
	shard_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	KinesisRequireArg(fcinfo, 2, "sequence_number");
	seqnum = PG_GETARG_DATUM(2);
	KinesisRequireArg(fcinfo, 3, "lease_token");
	token = PG_GETARG_INT64(3);
	PreventCommandIfReadOnly("checkpoint");

	nestlevel = KinesisSpiBegin();
	app = app_get(name, false);
	do
	{
		stream = app_stream(&app);
		shard = KinesisShardLookup(stream, shard_id);
		if (shard == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("shard \"%s\" does not exist in stream \"%s\"", shard_id, stream->name)));
	} while (!KinesisLockShard(stream, shard, RowShareLock));
	KinesisStableAttach(stream, shard);
	counter = KinesisShardCounter(seqnum, stream, shard, "sequence number");

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(shard->shard_index);
	KinesisSpiExecSaved("SELECT lease_owner, lease_counter, checkpoint FROM kinesis.leases"
						" WHERE application_name = $1 AND shard_index = $2 FOR UPDATE",
						2, types, values, NULL, KinesisExtensionOwner(), SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("application \"%s\" has no lease on shard \"%s\"", name,
						KinesisShardIdString(shard->shard_index))));
	owner = KinesisSpiText(0, 1);
	lease_counter = KinesisSpiInt(0, 2, 0);
	current = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
	if (owner == NULL || lease_counter != token)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("lease of application \"%s\" on shard \"%s\" was lost",
						name, KinesisShardIdString(shard->shard_index)),
				 errdetail("The lease token is " INT64_FORMAT "; the lease now has " INT64_FORMAT "%s%s.",
						   token, lease_counter, owner ? " and belongs to " : " and no owner",
						   owner ? owner : ""),
				 errhint("Acquire the lease again with kinesis.acquire_leases.")));
	if (!isnull && DatumGetBool(DirectFunctionCall2(numeric_lt, seqnum, current)))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("checkpoint of application \"%s\" on shard \"%s\" would move backwards",
						name, KinesisShardIdString(shard->shard_index))));

	shard_end = shard->close_secs >= 0 && counter == KINESIS_MAX_COUNTER;
	if (shard_end)
		refuse_skipping(name, stream, shard, isnull ? (Datum) 0 : current);

	values[2] = seqnum;
	values[3] = BoolGetDatum(shard_end);
	KinesisSpiExecSaved("UPDATE kinesis.leases SET checkpoint = $3, shard_end = $4,"
						" owner_switches_since_checkpoint = 0, renewed_at = pg_catalog.now()"
						" WHERE application_name = $1 AND shard_index = $2",
						4, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * kinesis.release_leases(application_name, worker_id): give the worker's
 * leases back (graceful shutdown); their tokens stop working.
 */
Datum
kinesis_release_leases(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *worker;
	int			nestlevel;
	AppRow		app;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");
	worker = worker_arg(fcinfo, 1);
	PreventCommandIfReadOnly("release_leases");

	nestlevel = KinesisSpiBegin();
	app = app_get(name, true);
	(void) app_stream(&app);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(worker);
	KinesisSpiExecSaved("UPDATE kinesis.leases SET lease_owner = NULL,"
						" lease_counter = lease_counter + 1"
						" WHERE application_name = $1 AND lease_owner = $2",
						2, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/* A lease held by a consuming worker */
typedef struct HeldLease
{
	int32		shard_index;
	int64		token;
	Datum		checkpoint;		/* numeric, or 0 for the trim horizon */
	Datum		ending;			/* SHARD_END of a closed shard read to its end, or 0 */
} HeldLease;

/*
 * Renew the worker's leases (those due, see RENEWAL_AGE) and list those it
 * can work on, in shard order, into memory of cxt.  SPI is connected.
 */
static HeldLease *
held_leases(AppRow *app, const char *worker, MemoryContext cxt, int *n)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT8OID, INT4OID};
	Datum		values[4];
	HeldLease  *leases;
	uint64		i;

	values[0] = CStringGetTextDatum(app->name);
	values[1] = CStringGetTextDatum(worker);
	values[2] = Int64GetDatum(app->stream_id);
	values[3] = Int32GetDatum(app->failover_ms);
	KinesisSpiExecSaved("UPDATE kinesis.leases SET renewed_at = pg_catalog.now()"
						" WHERE application_name = $1 AND lease_owner = $2"
						" AND renewed_at <= pg_catalog.now() - " RENEWAL_AGE,
						4, types, values, NULL, KinesisExtensionOwner(), SPI_OK_UPDATE);
	KinesisSpiExecSaved("SELECT l.shard_index, l.lease_counter, l.checkpoint"
						" FROM (" WORKABLE_LEASES ") l WHERE l.lease_owner = $2"
						" ORDER BY l.shard_index",
						3, types, values, NULL, InvalidOid, SPI_OK_SELECT);
	*n = (int) SPI_processed;
	leases = MemoryContextAlloc(cxt, sizeof(HeldLease) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		cp = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);

		leases[i].shard_index = (int32) KinesisSpiInt(i, 1, 0);
		leases[i].token = KinesisSpiInt(i, 2, 0);
		leases[i].checkpoint = (Datum) 0;
		leases[i].ending = (Datum) 0;
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			leases[i].checkpoint = datumCopy(cp, false, -1);
			MemoryContextSwitchTo(old);
		}
	}
	return leases;
}

/*
 * Read the records of every held lease after its checkpoint into store;
 * returns how many.  Each shard gets an equal share of limit.  A closed
 * shard with nothing after the checkpoint gets its ending sequence number
 * noted in its lease, and is counted in *drained.  The shards' locks are
 * given back when unlock (before a wait).
 */
static int
consume_once(AppRow *app, HeldLease *leases, int n, int limit, Tuplestorestate *store,
			 TupleDesc desc, bool unlock, int *drained)
{
	int			share = n > 0 ? (limit + n - 1) / n : 0;
	int			total = 0;
	int			i;

	for (i = 0; i < n && total < limit; i++)
	{
		KinesisStream *stream;
		KinesisShard *shard;
		int64		after;
		bool		at_end;

		do
		{
			stream = KinesisStreamLookup(app->stream_name, false);
			shard = KinesisShardByIndex(stream, leases[i].shard_index);
			if (shard == NULL)
				break;
		} while (!KinesisLockShard(stream, shard, RowShareLock));
		if (shard == NULL)
			continue;			/* expired meanwhile */
		KinesisStableAttach(stream, shard);
		after = leases[i].checkpoint == (Datum) 0 ? -1 :
			KinesisShardCounter(leases[i].checkpoint, stream, shard, "checkpoint");
		total += KinesisConsumeShard(stream, shard, after, Min(share, limit - total), store, desc,
									 CStringGetTextDatum(KinesisShardIdString(shard->shard_index)),
									 Int64GetDatum(leases[i].token), app->name, &at_end);
		if (at_end)
		{
			leases[i].ending = KinesisShardEndingSeqNo(shard);
			(*drained)++;
		}
		if (unlock)
			UnlockRelationOid(shard->relid, RowShareLock);
	}
	return total;
}

/*
 * Checkpoint at SHARD_END the leases consume found at the end of their
 * closed shards, unless their token or checkpoint changed meanwhile.
 * Nothing is skipped: no record follows the checkpoint these leases had.
 * SPI is connected.
 */
static void
end_drained_leases(AppRow *app, const char *worker, HeldLease *leases, int n)
{
	Oid			types[6] = {TEXTOID, TEXTOID, INT4OID, INT8OID, NUMERICOID, NUMERICOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			i;

	values[0] = CStringGetTextDatum(app->name);
	values[1] = CStringGetTextDatum(worker);
	for (i = 0; i < n; i++)
	{
		if (leases[i].ending == (Datum) 0)
			continue;
		values[2] = Int32GetDatum(leases[i].shard_index);
		values[3] = Int64GetDatum(leases[i].token);
		values[4] = leases[i].checkpoint;
		nulls[4] = leases[i].checkpoint == (Datum) 0 ? 'n' : ' ';
		values[5] = leases[i].ending;
		KinesisSpiExecSaved("UPDATE kinesis.leases SET checkpoint = $6, shard_end = true,"
							" owner_switches_since_checkpoint = 0"
							" WHERE application_name = $1 AND shard_index = $3"
							" AND lease_owner = $2 AND lease_counter = $4"
							" AND checkpoint IS NOT DISTINCT FROM $5",
							6, types, values, nulls, KinesisExtensionOwner(), SPI_OK_UPDATE);
	}
}

/*
 * kinesis.consume(application_name, worker_id, "limit", wait_ms)
 *		RETURNS TABLE(shard_id text, lease_token bigint, sequence_number numeric,
 *					  approximate_arrival_timestamp timestamptz, partition_key text,
 *					  data bytea)
 *
 * The records of the worker's leases after their checkpoints, in sequence
 * order per shard; renews the leases last renewed a third of the failover
 * time ago or earlier.  With wait_ms, waits for a commit on the stream
 * when there is nothing.  The worker calls kinesis.checkpoint for what
 * it processed; consume moves a checkpoint only from a closed shard's last
 * record (or nothing) to its end, returning at once when it does.
 */
Datum
kinesis_consume(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	char	   *name;
	char	   *worker;
	int32		limit;
	int32		wait_ms;
	int			nestlevel;
	AppRow		app;
	KinesisStream *stream;
	HeldLease  *leases;
	int			n;
	int			drained = 0;
	TimestampTz deadline;

	kinesis_check_loaded();
	name = KinesisNameArg(fcinfo, 0, "application_name", "application name");
	worker = worker_arg(fcinfo, 1);
	limit = KinesisLimitArg(fcinfo, 2);
	wait_ms = KinesisWaitArg(fcinfo, 3);
	PreventCommandIfReadOnly("consume");
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);
	InitMaterializedSRF(fcinfo, 0);

	nestlevel = KinesisSpiBegin();
	app = app_get(name, false);
	stream = app_stream(&app);
	leases = held_leases(&app, worker, cxt, &n);
	app.stream_name = MemoryContextStrdup(cxt, app.stream_name);
	KinesisSpiEnd(nestlevel);

	for (;;)
	{
		KinesisWaitSlot *slot = NULL;
		long		remaining = (deadline - GetCurrentTimestamp() + 999) / 1000;

		if (wait_ms > 0 && remaining > 0 && n > 0)
			slot = KinesisStableWaitBeginStream(stream);
		if (consume_once(&app, leases, n, limit, rsinfo->setResult, rsinfo->setDesc,
						 slot != NULL, &drained) > 0 || drained > 0 || slot == NULL)
		{
			if (slot)
				KinesisStableWaitEnd(slot);
			break;
		}
		KinesisStableWaitSleep(slot, remaining);
		KinesisStableWaitEnd(slot);
	}
	if (drained > 0)
	{
		nestlevel = KinesisSpiBegin();
		end_drained_leases(&app, worker, leases, n);
		KinesisSpiEnd(nestlevel);
	}
	return (Datum) 0;
}

/*
 * kinesis._checkpoint_lag(stream_name, shard_index, checkpoint) RETURNS
 * bigint: the lag of a checkpoint behind its shard's newest record in ms,
 * for the view kinesis.application_leases; 0 when caught up.  NULL when
 * the stream or shard is gone, the caller may not read the stream, or the
 * lag is unknown (see KinesisCheckpointLag).
 */
Datum
kinesis_checkpoint_lag(PG_FUNCTION_ARGS)
{
	char	   *stream_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		shard_index = PG_GETARG_INT32(1);
	Datum		checkpoint = PG_GETARG_DATUM(2);
	KinesisStream *stream;
	KinesisShard *shard;
	int64		lag_ms;

	kinesis_check_loaded();
	do
	{
		stream = KinesisStreamLookup(stream_name, true);
		if (stream == NULL ||
			pg_class_aclcheck(stream->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			PG_RETURN_NULL();
		shard = KinesisShardByIndex(stream, shard_index);
		if (shard == NULL)
			PG_RETURN_NULL();
	} while (!KinesisLockShard(stream, shard, RowShareLock));
	KinesisStableAttach(stream, shard);
	if (!KinesisCheckpointLag(stream, shard, checkpoint, &lag_ms))
		PG_RETURN_NULL();
	PG_RETURN_INT64(lag_ms);
}
