/*-------------------------------------------------------------------------
 *
 * consumer.c
 *	  Registered stream consumers (enhanced fan-out):
 *	  register_stream_consumer, describe_stream_consumer,
 *	  list_stream_consumers, deregister_stream_consumer.
 *
 * A consumer is a named reader of one stream, a row of kinesis.consumers,
 * ACTIVE as soon as its registering transaction commits (registration is
 * synchronous, as stream creation is).  Registering and deregistering need
 * SELECT on the stream, the privilege of its readers; describing and
 * listing need nothing, like describe_stream_summary.  A stream has at most
 * KINESIS_MAX_CONSUMERS consumers; delete_stream refuses a stream with
 * consumers unless told to deregister them (control.c).
 *
 * Readers check a consumer against the stream's cache entry (catalog.c),
 * which registering and deregistering invalidate.
 *
 * Processes: client backends.  Locking: changes take the control-plane
 * lock on kinesis.streams (KinesisControlBegin), which serializes them
 * with each other and with delete_stream.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "kinesis.h"

/* Consumers per stream, as in Kinesis */
#define KINESIS_MAX_CONSUMERS	20

PG_FUNCTION_INFO_V1(kinesis_register_stream_consumer);
PG_FUNCTION_INFO_V1(kinesis_describe_stream_consumer);
PG_FUNCTION_INFO_V1(kinesis_list_stream_consumers);
PG_FUNCTION_INFO_V1(kinesis_deregister_stream_consumer);

/* Seconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_SECS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/*
 * A consumer's ARN: the stream's, "/consumer/", the name, ":" and the
 * creation time in Unix seconds.
 */
static char *
consumer_arn(const char *stream_name, const char *consumer, TimestampTz created)
{
	return psprintf("%s/consumer/%s:" INT64_FORMAT, KinesisStreamArn(stream_name),
					consumer, created / USECS_PER_SEC + UNIX_TO_PG_SECS);
}

/*
 * Fill the values of a kinesis.stream_consumer.
 */
static void
consumer_values(Datum *values, const char *stream_name, const char *consumer,
				const char *status, TimestampTz created)
{
	values[0] = CStringGetTextDatum(consumer);
	values[1] = CStringGetTextDatum(consumer_arn(stream_name, consumer, created));
	values[2] = CStringGetTextDatum(status);
	values[3] = TimestampTzGetDatum(created);
}

/*
 * A kinesis.stream_consumer result datum.
 */
static Datum
consumer_datum(FunctionCallInfo fcinfo, const char *stream_name, const char *consumer,
			   const char *status, TimestampTz created)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "function returning kinesis.stream_consumer called in a wrong context");
	consumer_values(values, stream_name, consumer, status, created);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/*
 * Read a consumer's status and creation time; KN001 when the stream has no
 * such consumer.  SPI is connected.
 */
static void
consumer_get(KinesisStreamRow *row, const char *consumer, char **status,
			 TimestampTz *created)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	values[0] = Int64GetDatum(row->stream_id);
	values[1] = CStringGetTextDatum(consumer);
	KinesisSpiExec("SELECT consumer_status, created_at FROM kinesis.consumers"
				   " WHERE stream_id = $1 AND consumer_name = $2",
				   2, types, values, InvalidOid, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("consumer \"%s\" does not exist in stream \"%s\"", consumer, row->name)));
	*status = KinesisSpiText(0, 1);
	*created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull));
}

/*
 * Raise 42501 unless the current user may read the stream.
 */
static void
require_reader(const char *stream_name)
{
	KinesisCheckStreamPrivilege(KinesisStreamLookup(stream_name, false), ACL_SELECT);
}

/*
 * The number of consumers of a stream.  SPI is connected.
 */
int64
KinesisConsumerCount(int64 stream_id)
{
	Oid			type = INT8OID;
	Datum		value = Int64GetDatum(stream_id);

	KinesisSpiExec("SELECT count(*) FROM kinesis.consumers WHERE stream_id = $1",
				   1, &type, &value, InvalidOid, SPI_OK_SELECT);
	return KinesisSpiInt(0, 1, 0);
}

/*
 * Register a consumer of a stream, ACTIVE at once; KN002 when the name is
 * taken, KN004 when the stream has its maximum.  Returns the creation
 * time.  The caller holds the control-plane lock and checked privileges.
 */
TimestampTz
KinesisConsumerRegister(KinesisStreamRow *row, const char *consumer)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	TimestampTz created;

	values[0] = Int64GetDatum(row->stream_id);
	values[1] = CStringGetTextDatum(consumer);
	KinesisSpiExec("SELECT FROM kinesis.consumers WHERE stream_id = $1 AND consumer_name = $2",
				   2, types, values, InvalidOid, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
				 errmsg("consumer \"%s\" already exists in stream \"%s\"", consumer, row->name)));
	if (KinesisConsumerCount(row->stream_id) >= KINESIS_MAX_CONSUMERS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("stream \"%s\" has the maximum of %d consumers", row->name,
						KINESIS_MAX_CONSUMERS),
				 errhint("Deregister a consumer with kinesis.deregister_stream_consumer first.")));

	KinesisSpiExec("INSERT INTO kinesis.consumers (stream_id, consumer_name)"
				   " VALUES ($1, $2) RETURNING created_at",
				   2, types, values, KinesisExtensionOwner(), SPI_OK_INSERT_RETURNING);
	created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
	KinesisInvalidateStream(row->relid);
	return created;
}

/*
 * Remove a consumer of a stream.  The caller holds the control-plane lock
 * and checked privileges.
 */
void
KinesisConsumerRemove(KinesisStreamRow *row, const char *consumer)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(row->stream_id);
	values[1] = CStringGetTextDatum(consumer);
	KinesisSpiExec("DELETE FROM kinesis.consumers WHERE stream_id = $1 AND consumer_name = $2",
				   2, types, values, KinesisExtensionOwner(), SPI_OK_DELETE);
	KinesisInvalidateStream(row->relid);
}

/*
 * kinesis.register_stream_consumer(stream_name, consumer_name)
 *		RETURNS kinesis.stream_consumer
 */
Datum
kinesis_register_stream_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *consumer;
	KinesisStreamRow row;
	int			nestlevel;
	TimestampTz created;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	consumer = KinesisNameArg(fcinfo, 1, "consumer_name", "consumer name");

	nestlevel = KinesisControlBegin("register_stream_consumer");
	row = KinesisStreamRowGet(name);
	KinesisRequireActive(&row);
	require_reader(name);

	created = KinesisConsumerRegister(&row, consumer);
	KinesisSpiEnd(nestlevel);

	PG_RETURN_DATUM(consumer_datum(fcinfo, name, consumer, "ACTIVE", created));
}

/*
 * kinesis.describe_stream_consumer(stream_name, consumer_name)
 *		RETURNS kinesis.stream_consumer
 */
Datum
kinesis_describe_stream_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *consumer;
	KinesisStreamRow row;
	int			nestlevel;
	char	   *status;
	TimestampTz created;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	consumer = KinesisNameArg(fcinfo, 1, "consumer_name", "consumer name");

	nestlevel = KinesisSpiBegin();
	row = KinesisStreamRowGet(name);
	consumer_get(&row, consumer, &status, &created);
	KinesisSpiEnd(nestlevel);

	PG_RETURN_DATUM(consumer_datum(fcinfo, name, consumer, status, created));
}

/*
 * kinesis.list_stream_consumers(stream_name) RETURNS SETOF
 *		kinesis.stream_consumer, by name
 */
Datum
kinesis_list_stream_consumers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	KinesisStreamRow row;
	int			nestlevel;
	Oid			type = INT8OID;
	Datum		value;
	uint64		i;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	InitMaterializedSRF(fcinfo, 0);

	nestlevel = KinesisSpiBegin();
	row = KinesisStreamRowGet(name);
	value = Int64GetDatum(row.stream_id);
	KinesisSpiExec("SELECT consumer_name, consumer_status, created_at FROM kinesis.consumers"
				   " WHERE stream_id = $1 ORDER BY consumer_name",
				   1, &type, &value, InvalidOid, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		bool		isnull;

		consumer_values(values, name, KinesisSpiText(i, 1), KinesisSpiText(i, 2),
						DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 3,
														  &isnull)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	KinesisSpiEnd(nestlevel);
	return (Datum) 0;
}

/*
 * kinesis.deregister_stream_consumer(stream_name, consumer_name)
 */
Datum
kinesis_deregister_stream_consumer(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *consumer;
	KinesisStreamRow row;
	int			nestlevel;
	char	   *status;
	TimestampTz created;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	consumer = KinesisNameArg(fcinfo, 1, "consumer_name", "consumer name");

	nestlevel = KinesisControlBegin("deregister_stream_consumer");
	row = KinesisStreamRowGet(name);
	consumer_get(&row, consumer, &status, &created);
	require_reader(name);

	KinesisConsumerRemove(&row, consumer);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}
