/*-------------------------------------------------------------------------
 *
 * control.c
 *	  The control plane: create_stream, delete_stream, retention, tags,
 *	  list_shards, and the small helpers the SQL-language functions call.
 *
 * Control operations are rare, so they use SPI.  Record tables are created
 * and dropped as the calling role, which therefore owns its streams'
 * tables and grants INSERT/SELECT on them to others.  The catalog tables
 * are writable by the extension owner only; catalog rows are written after
 * switching to that role for the statement.
 *
 * Locking: every operation that changes the catalog first locks
 * kinesis.streams in SHARE ROW EXCLUSIVE mode, which serializes control
 * operations (not the data plane, which never touches the catalog) so that
 * existence checks and the writes that follow them cannot race.  Changes
 * to a stream invalidate its table's relcache entry, which refreshes every
 * backend's stream cache (catalog.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "kinesis.h"

PG_FUNCTION_INFO_V1(kinesis_create_stream);
PG_FUNCTION_INFO_V1(kinesis_delete_stream);
PG_FUNCTION_INFO_V1(kinesis_increase_stream_retention_period);
PG_FUNCTION_INFO_V1(kinesis_decrease_stream_retention_period);
PG_FUNCTION_INFO_V1(kinesis_add_tags_to_stream);
PG_FUNCTION_INFO_V1(kinesis_remove_tags_from_stream);
PG_FUNCTION_INFO_V1(kinesis_list_shards);
PG_FUNCTION_INFO_V1(kinesis_stream_id);
PG_FUNCTION_INFO_V1(kinesis_assert_loaded);
PG_FUNCTION_INFO_V1(kinesis_stream_arn);

/* Validated tags of a request */
typedef struct TagList
{
	int			ntags;
	Datum	   *keys;
	Datum	   *values;
} TagList;

/*
 * Execute one SPI statement; as the extension owner when as_owner.
 */
static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
		 bool as_owner, int expected)
{
	KinesisSpiExec(sql, nargs, types, values,
				   as_owner ? KinesisExtensionOwner() : InvalidOid, expected);
}

/*
 * Start a control operation: refuse read-only transactions, connect to SPI
 * with search_path pinned (spi.c) and lock the catalog against concurrent
 * control operations.  Returns the GUC nest level to pass to
 * KinesisSpiEnd.
 */
int
KinesisControlBegin(const char *cmdname)
{
	int			nestlevel;

	PreventCommandIfReadOnly(cmdname);
	nestlevel = KinesisSpiBegin();
	spi_exec("LOCK TABLE kinesis.streams IN SHARE ROW EXCLUSIVE MODE",
			 0, NULL, NULL, true, SPI_OK_UTILITY);
	return nestlevel;
}

/*
 * Read a stream's catalog row; KN001 when it does not exist.
 */
KinesisStreamRow
KinesisStreamRowGet(const char *name)
{
	Oid			argtype = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);
	KinesisStreamRow row;

	spi_exec("SELECT stream_id, stream_status, retention_period_hours, stream_mode"
			 " FROM kinesis.streams WHERE stream_name = $1",
			 1, &argtype, &arg, false, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("stream \"%s\" does not exist", name)));
	row.name = pstrdup(name);
	row.stream_id = KinesisSpiInt(0, 1, 0);
	row.status = KinesisSpiText(0, 2);
	row.retention_hours = (int32) KinesisSpiInt(0, 3, 24);
	row.on_demand = strcmp(KinesisSpiText(0, 4), "ON_DEMAND") == 0;
	row.relid = get_relname_relid(KinesisStreamTableName(row.stream_id),
								  KinesisDataNamespace());
	return row;
}

/*
 * Raise 42501 unless the current user owns the stream's table.
 */
void
KinesisRequireOwner(const KinesisStreamRow *row)
{
	if (OidIsValid(row->relid) && !pg_class_ownercheck(row->relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of stream \"%s\"", row->name)));
}

/*
 * Raise KN002 unless the stream is ACTIVE.
 */
void
KinesisRequireActive(const KinesisStreamRow *row)
{
	if (strcmp(row->status, "ACTIVE") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
				 errmsg("stream \"%s\" is not active", row->name),
				 errdetail("The stream is in state %s.", row->status)));
}

/*
 * Raise KN003 unless hours is an allowed retention period.
 */
static void
check_retention(int32 hours)
{
	if (hours < KINESIS_MIN_RETENTION_HOURS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("retention period of %d hours is too short", hours),
				 errdetail("The minimum retention period is %d hours.",
						   KINESIS_MIN_RETENTION_HOURS)));
	if (hours > KINESIS_MAX_RETENTION_HOURS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("retention period of %d hours is too long", hours),
				 errdetail("The maximum retention period is %d hours.",
						   KINESIS_MAX_RETENTION_HOURS)));
}

/*
 * A tag key or value may hold letters (any non-ASCII character counts as
 * one), digits, white space and _ . / = + - @ : %.
 */
static bool
tag_text_ok(const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == ' ' || c == '\t' || c == '\n' ||
			strchr("_./=+-@:%", c) != NULL)
			continue;
		return false;
	}
	return true;
}

/*
 * Check one tag; raises KN008 for syntax, KN003 for reserved or invalid
 * characters.
 */
static void
check_tag(const char *key, int keylen, const char *value, int valuelen)
{
	int			keychars = pg_mbstrlen_with_len(key, keylen);

	if (keychars < 1 || keychars > KINESIS_MAX_TAG_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("invalid tag key \"%.*s\"", keylen, key),
				 errdetail("A tag key has 1 to %d characters.", KINESIS_MAX_TAG_KEY_LEN)));
	if (value && pg_mbstrlen_with_len(value, valuelen) > KINESIS_MAX_TAG_VALUE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("value of tag \"%.*s\" is too long", keylen, key),
				 errdetail("A tag value has at most %d characters.", KINESIS_MAX_TAG_VALUE_LEN)));
	if (keylen >= 4 && pg_strncasecmp(key, "aws:", 4) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("tag key \"%.*s\" uses the reserved prefix \"aws:\"", keylen, key)));
	if (!tag_text_ok(key, keylen) || (value && !tag_text_ok(value, valuelen)))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("tag \"%.*s\" contains invalid characters", keylen, key),
				 errdetail("Tags may contain letters, digits, white space and _ . / = + - @ : %%.")));
}

/*
 * Validate a jsonb object of string tags.
 */
static TagList
parse_tags(Jsonb *tags)
{
	TagList		result;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			keylen = 0;
	int			max;

	if (!JB_ROOT_IS_OBJECT(tags) || JB_ROOT_IS_SCALAR(tags))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("tags must be a JSON object of strings")));

	max = JB_ROOT_COUNT(tags);
	result.ntags = 0;
	result.keys = palloc(sizeof(Datum) * Max(max, 1));
	result.values = palloc(sizeof(Datum) * Max(max, 1));

	it = JsonbIteratorInit(&tags->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_KINESIS_VALIDATION),
						 errmsg("value of tag \"%.*s\" is not a string", keylen, key)));
			check_tag(key, keylen, v.val.string.val, v.val.string.len);
			result.keys[result.ntags] =
				PointerGetDatum(cstring_to_text_with_len(key, keylen));
			result.values[result.ntags] =
				PointerGetDatum(cstring_to_text_with_len(v.val.string.val,
														 v.val.string.len));
			result.ntags++;
		}
	}
	return result;
}

/*
 * Insert or overwrite tags, then enforce the per-stream tag limit.
 */
static void
store_tags(int64 stream_id, const char *name, TagList *tags)
{
	Oid			types[3] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	bool		isnull;
	int64		count;

	if (tags->ntags == 0)
		return;
	values[0] = Int64GetDatum(stream_id);
	values[1] = PointerGetDatum(construct_array(tags->keys, tags->ntags, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(tags->values, tags->ntags, TEXTOID, -1, false, TYPALIGN_INT));
	spi_exec("INSERT INTO kinesis.tags (stream_id, key, value)"
			 " SELECT $1, k, v FROM unnest($2, $3) AS t(k, v)"
			 " ON CONFLICT (stream_id, key) DO UPDATE SET value = EXCLUDED.value",
			 3, types, values, true, SPI_OK_INSERT);
	spi_exec("SELECT count(*) FROM kinesis.tags WHERE stream_id = $1",
			 1, types, values, false, SPI_OK_SELECT);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	if (count > KINESIS_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("stream \"%s\" cannot have more than %d tags",
						name, KINESIS_MAX_TAGS),
				 errdetail("The request would leave the stream with " INT64_FORMAT " tags.",
						   count)));
}

/*
 * The SQL that creates a stream's partitioned table and one partition per
 * shard, run as the calling role.
 */
static char *
stream_ddl(int64 stream_id, const char *name, int shard_count)
{
	StringInfoData sql;
	const char *parent = quote_qualified_identifier(KINESIS_DATA_SCHEMA,
													KinesisStreamTableName(stream_id));
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TABLE %s ("
					 " sequence_counter bigint NOT NULL,"
					 " approximate_arrival_timestamp timestamptz NOT NULL,"
					 " shard_index integer NOT NULL,"
					 " segment smallint NOT NULL,"
					 " partition_key text NOT NULL,"
					 " data bytea NOT NULL"
					 ") PARTITION BY LIST (shard_index);"
					 "COMMENT ON TABLE %s IS %s;"
					 "CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE"
					 " ON %s FOR EACH ROW EXECUTE FUNCTION kinesis.forbid_direct_write();",
					 parent, parent,
					 quote_literal_cstr(psprintf("records of stream %s", name)),
					 parent);
	for (i = 0; i < shard_count; i++)
		appendStringInfoString(&sql, KinesisShardDDL(stream_id, i));
	return sql.data;
}

/*
 * Insert the catalog rows of the initial shards.
 */
static void
store_initial_shards(int64 stream_id, int shard_count, TimestampTz created)
{
	Datum	   *starts = palloc(sizeof(Datum) * shard_count);
	Datum	   *ends = palloc(sizeof(Datum) * shard_count);
	Oid			types[4] = {INT8OID, NUMERICARRAYOID, NUMERICARRAYOID, TIMESTAMPTZOID};
	Datum		values[4];
	int			i;

	for (i = 0; i < shard_count; i++)
	{
		KinesisHashKey start,
					end;

		KinesisInitialRange(i, shard_count, &start, &end);
		starts[i] = KinesisHashKeyToNumeric(start);
		ends[i] = KinesisHashKeyToNumeric(end);
	}
	values[0] = Int64GetDatum(stream_id);
	values[1] = PointerGetDatum(construct_array(starts, shard_count, NUMERICOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(ends, shard_count, NUMERICOID, -1, false, TYPALIGN_INT));
	values[3] = TimestampTzGetDatum(created - created % USECS_PER_SEC);
	spi_exec("INSERT INTO kinesis.shards (stream_id, shard_index,"
			 " starting_hash_key, ending_hash_key, created_at)"
			 " SELECT $1, (o - 1)::int, s, e, $4"
			 " FROM unnest($2, $3) WITH ORDINALITY AS t(s, e, o)",
			 4, types, values, true, SPI_OK_INSERT);
	spi_exec("INSERT INTO kinesis.segments (stream_id, shard_index, segment,"
			 " start_counter, started_at)"
			 " SELECT $1, shard_index, 0, 0, created_at FROM kinesis.shards"
			 " WHERE stream_id = $1",
			 1, types, values, true, SPI_OK_INSERT);
}

/*
 * Validate create_stream's arguments other than the name; returns the
 * number of shards to create.
 */
static int
create_stream_shard_count(FunctionCallInfo fcinfo, KinesisStreamMode *mode)
{
	static const char *const mode_names[] = {"PROVISIONED", "ON_DEMAND"};
	char	   *mode_name;
	int			shard_count;

	KinesisRequireArg(fcinfo, 2, "stream_mode");
	KinesisRequireArg(fcinfo, 3, "retention_period_hours");
	mode_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	*mode = (KinesisStreamMode) KinesisEnumValue(mode_name, mode_names,
												 lengthof(mode_names),
												 "stream mode");

	if (PG_ARGISNULL(1))
	{
		if (*mode == KINESIS_MODE_PROVISIONED)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_VALIDATION),
					 errmsg("argument \"shard_count\" must not be null for a PROVISIONED stream")));
		shard_count = KINESIS_ON_DEMAND_SHARDS;
	}
	else
		shard_count = PG_GETARG_INT32(1);

	if (shard_count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("shard count must be at least 1"),
				 errdetail("The shard count given was %d.", shard_count)));
	check_retention(PG_GETARG_INT32(3));
	return shard_count;
}

/*
 * Raise KN004 when shard_count more open shards would exceed
 * kinesis.max_shards in this database.
 */
void
KinesisCheckShardLimit(int shard_count)
{
	bool		isnull;
	int64		open_shards;

	spi_exec("SELECT count(*) FROM kinesis.shards WHERE closed_at IS NULL",
			 0, NULL, NULL, false, SPI_OK_SELECT);
	open_shards = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	if (open_shards + shard_count > kinesis_max_shards)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("shard limit exceeded"),
				 errdetail("The database has " INT64_FORMAT " open shards; %d more would exceed the limit of %d.",
						   open_shards, shard_count, kinesis_max_shards),
				 errhint("Raise kinesis.max_shards and restart the server.")));
}

/*
 * kinesis.create_stream(stream_name, shard_count, stream_mode,
 *						 retention_period_hours, tags)
 */
Datum
kinesis_create_stream(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	char	   *name;
	KinesisStreamMode mode;
	int			shard_count;
	TagList		tags = {0, NULL, NULL};
	TimestampTz created = GetCurrentTimestamp();
	Oid			types[5] = {TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID};
	Datum		values[5];
	bool		isnull;
	int64		stream_id;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	shard_count = create_stream_shard_count(fcinfo, &mode);
	if (!PG_ARGISNULL(4))
		tags = parse_tags(PG_GETARG_JSONB_P(4));
	if (tags.ntags > KINESIS_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("stream \"%s\" cannot have more than %d tags",
						name, KINESIS_MAX_TAGS)));
	if (shard_count > kinesis_max_shards)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_LIMIT_EXCEEDED),
				 errmsg("shard limit exceeded"),
				 errdetail("A stream can have at most %d shards.", kinesis_max_shards),
				 errhint("Raise kinesis.max_shards and restart the server.")));

	nestlevel = KinesisControlBegin("create_stream");
	if (pg_namespace_aclcheck(KinesisDataNamespace(), GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create stream \"%s\"", name),
				 errhint("Grant CREATE on schema %s to the role.", KINESIS_DATA_SCHEMA)));

	values[0] = CStringGetTextDatum(name);
	spi_exec("SELECT 1 FROM kinesis.streams WHERE stream_name = $1",
			 1, types, values, false, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
				 errmsg("stream \"%s\" already exists", name)));
	KinesisCheckShardLimit(shard_count);

	values[1] = CStringGetTextDatum(KinesisModeName(mode));
	values[2] = Int32GetDatum(PG_GETARG_INT32(3));
	values[3] = TimestampTzGetDatum(created);
	values[4] = Int32GetDatum(shard_count);
	spi_exec("INSERT INTO kinesis.streams (stream_name, stream_status, stream_mode,"
			 " retention_period_hours, created_at, next_shard_index)"
			 " VALUES ($1, 'ACTIVE', $2, $3, $4, $5) RETURNING stream_id",
			 5, types, values, true, SPI_OK_INSERT_RETURNING);
	stream_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));

	KinesisStableClearStream(stream_id);
	spi_exec(stream_ddl(stream_id, name, shard_count), 0, NULL, NULL, false,
			 SPI_OK_UTILITY);
	store_initial_shards(stream_id, shard_count, created);
	store_tags(stream_id, name, &tags);

	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * kinesis.delete_stream(stream_name, enforce_consumer_deletion)
 */
Datum
kinesis_delete_stream(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	char	   *name;
	KinesisStreamRow row;
	Oid			type = INT8OID;
	Datum		value;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "enforce_consumer_deletion");

	nestlevel = KinesisControlBegin("delete_stream");
	row = KinesisStreamRowGet(name);
	KinesisRequireOwner(&row);
	if (!PG_GETARG_BOOL(1))
	{
		int64		consumers = KinesisConsumerCount(row.stream_id);

		if (consumers > 0)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_IN_USE),
					 errmsg("stream \"%s\" has registered consumers", name),
					 errdetail("The stream has " INT64_FORMAT " consumers.", consumers),
					 errhint("Deregister them first, or pass enforce_consumer_deletion => true.")));
	}

	if (OidIsValid(row.relid))
		spi_exec(psprintf("DROP TABLE %s",
						  quote_qualified_identifier(KINESIS_DATA_SCHEMA,
													 KinesisStreamTableName(row.stream_id))),
				 0, NULL, NULL, false, SPI_OK_UTILITY);
	value = Int64GetDatum(row.stream_id);
	spi_exec("DELETE FROM kinesis.streams WHERE stream_id = $1",
			 1, &type, &value, true, SPI_OK_DELETE);
	KinesisStableForgetStream(row.stream_id);

	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Common body of increase/decrease_stream_retention_period.
 */
static void
change_retention(FunctionCallInfo fcinfo, bool increase)
{
	int			nestlevel;
	const char *cmdname = increase ? "increase_stream_retention_period" :
		"decrease_stream_retention_period";
	char	   *name;
	int32		hours;
	KinesisStreamRow row;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2];

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "retention_period_hours");
	hours = PG_GETARG_INT32(1);
	check_retention(hours);

	nestlevel = KinesisControlBegin(cmdname);
	row = KinesisStreamRowGet(name);
	KinesisRequireOwner(&row);
	KinesisRequireActive(&row);
	if (increase && hours < row.retention_hours)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("requested retention period (%d hours) for stream \"%s\" is shorter than the current one (%d hours)",
						hours, name, row.retention_hours),
				 errhint("Use kinesis.decrease_stream_retention_period.")));
	if (!increase && hours > row.retention_hours)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("requested retention period (%d hours) for stream \"%s\" is longer than the current one (%d hours)",
						hours, name, row.retention_hours),
				 errhint("Use kinesis.increase_stream_retention_period.")));

	values[0] = Int64GetDatum(row.stream_id);
	values[1] = Int32GetDatum(hours);
	spi_exec("UPDATE kinesis.streams SET retention_period_hours = $2"
			 " WHERE stream_id = $1", 2, types, values, true, SPI_OK_UPDATE);
	if (OidIsValid(row.relid))
		KinesisInvalidateStream(row.relid);
	KinesisSpiEnd(nestlevel);
}

Datum
kinesis_increase_stream_retention_period(PG_FUNCTION_ARGS)
{
	change_retention(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
kinesis_decrease_stream_retention_period(PG_FUNCTION_ARGS)
{
	change_retention(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * kinesis.add_tags_to_stream(stream_name, tags)
 */
Datum
kinesis_add_tags_to_stream(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	char	   *name;
	TagList		tags;
	KinesisStreamRow row;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "tags");
	tags = parse_tags(PG_GETARG_JSONB_P(1));
	if (tags.ntags == 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("tags must not be empty")));

	nestlevel = KinesisControlBegin("add_tags_to_stream");
	row = KinesisStreamRowGet(name);
	KinesisRequireOwner(&row);
	store_tags(row.stream_id, name, &tags);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * kinesis.remove_tags_from_stream(stream_name, tag_keys)
 */
Datum
kinesis_remove_tags_from_stream(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	char	   *name;
	ArrayType  *keys;
	KinesisStreamRow row;
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2];
	int			nkeys;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			i;

	kinesis_check_loaded();
	name = KinesisStreamNameArg(fcinfo, 0);
	KinesisRequireArg(fcinfo, 1, "tag_keys");
	keys = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &elem_nulls, &nkeys);
	if (ARR_NDIM(keys) > 1 || nkeys < 1 || nkeys > KINESIS_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("tag_keys must have 1 to %d elements", KINESIS_MAX_TAGS)));
	for (i = 0; i < nkeys; i++)
	{
		text	   *key;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_VALIDATION),
					 errmsg("tag_keys must not contain null")));
		key = DatumGetTextPP(elems[i]);
		check_tag(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), NULL, 0);
	}

	nestlevel = KinesisControlBegin("remove_tags_from_stream");
	row = KinesisStreamRowGet(name);
	KinesisRequireOwner(&row);
	values[0] = Int64GetDatum(row.stream_id);
	values[1] = PointerGetDatum(keys);
	spi_exec("DELETE FROM kinesis.tags WHERE stream_id = $1 AND key = ANY ($2)",
			 2, types, values, true, SPI_OK_DELETE);
	KinesisSpiEnd(nestlevel);
	PG_RETURN_VOID();
}

/*
 * The cached stream, after processing pending invalidations so that a
 * control-plane read reflects every committed change.
 */
static KinesisStream *
fresh_stream(const char *name)
{
	AcceptInvalidationMessages();
	return KinesisStreamLookup(name, false);
}

/*
 * kinesis._stream_id(stream_name): validates the name and returns the
 * stream's id, or raises KN001.  Used by the SQL-language functions.
 */
Datum
kinesis_stream_id(PG_FUNCTION_ARGS)
{
	kinesis_check_loaded();
	PG_RETURN_INT64(fresh_stream(KinesisStreamNameArg(fcinfo, 0))->stream_id);
}

/*
 * kinesis._assert_loaded(): raises unless the library was preloaded.
 */
Datum
kinesis_assert_loaded(PG_FUNCTION_ARGS)
{
	kinesis_check_loaded();
	PG_RETURN_VOID();
}

/*
 * kinesis.stream_arn(stream_name): the ARN of a stream name.
 */
Datum
kinesis_stream_arn(PG_FUNCTION_ARGS)
{
	kinesis_check_loaded();
	PG_RETURN_TEXT_P(cstring_to_text(KinesisStreamArn(KinesisStreamNameArg(fcinfo, 0))));
}

/* Shard filter types of list_shards */
typedef enum ShardFilter
{
	FILTER_FROM_TRIM_HORIZON,
	FILTER_AT_TRIM_HORIZON,
	FILTER_AT_LATEST,
	FILTER_AT_TIMESTAMP,
	FILTER_FROM_TIMESTAMP,
	FILTER_AFTER_SHARD_ID
} ShardFilter;

/*
 * Parse and check list_shards' filter arguments.  *after and *at_secs
 * receive the shard index and the time in epoch seconds the filter uses.
 */
static ShardFilter
parse_shard_filter(FunctionCallInfo fcinfo, KinesisStream *stream,
				   int32 *after, int64 *at_secs)
{
	static const char *const names[] = {"FROM_TRIM_HORIZON", "AT_TRIM_HORIZON",
		"AT_LATEST", "AT_TIMESTAMP", "FROM_TIMESTAMP", "AFTER_SHARD_ID"};
	ShardFilter filter = FILTER_FROM_TRIM_HORIZON;
	bool		has_type = !PG_ARGISNULL(1);
	bool		wants_id,
				wants_ts;
	TimestampTz now = KinesisNow();
	TimestampTz horizon;

	if (has_type)
	{
		filter = (ShardFilter) KinesisEnumValue(text_to_cstring(PG_GETARG_TEXT_PP(1)),
												names, lengthof(names),
												"shard filter type");
	}

	wants_id = (filter == FILTER_AFTER_SHARD_ID);
	wants_ts = (filter == FILTER_AT_TIMESTAMP || filter == FILTER_FROM_TIMESTAMP);
	if (wants_id == PG_ARGISNULL(2) || wants_ts == PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("invalid combination of shard filter arguments"),
				 errdetail("AFTER_SHARD_ID requires shard_filter_shard_id, AT_TIMESTAMP and FROM_TIMESTAMP require shard_filter_timestamp, and other filters take neither.")));

	if (wants_id)
	{
		bool		ok;
		char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(2));

		*after = KinesisParseShardIndex(id, &ok);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
					 errmsg("invalid shard id \"%s\"", id)));
	}

	/* the trim horizon, never before the stream existed */
	horizon = Max(now - (TimestampTz) stream->retention_hours * USECS_PER_HOUR,
				  stream->created_at);
	*at_secs = horizon / USECS_PER_SEC;
	if (wants_ts)
	{
		TimestampTz ts = PG_GETARG_TIMESTAMPTZ(3);

		if (ts > now)
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
					 errmsg("shard filter timestamp is in the future")));
		*at_secs = Max(ts, horizon) / USECS_PER_SEC;
	}
	/* to Unix seconds, as shard times are kept */
	*at_secs += (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	return filter;
}

/*
 * Whether a shard passes a list_shards filter.
 */
static bool
shard_matches(const KinesisShard *shard, ShardFilter filter, int32 after,
			  int64 at_secs)
{
	bool		open = shard->close_secs < 0;

	switch (filter)
	{
		case FILTER_FROM_TRIM_HORIZON:
			return true;
		case FILTER_AT_LATEST:
			return open;
		case FILTER_AFTER_SHARD_ID:
			return shard->shard_index > after;
		case FILTER_AT_TRIM_HORIZON:
		case FILTER_AT_TIMESTAMP:
			return shard->create_secs <= at_secs &&
				(open || shard->close_secs >= at_secs);
		case FILTER_FROM_TIMESTAMP:
			return open || shard->close_secs >= at_secs;
	}
	return false;
}

/*
 * kinesis.list_shards(stream_name, shard_filter_type, shard_filter_shard_id,
 *					   shard_filter_timestamp)
 */
Datum
kinesis_list_shards(PG_FUNCTION_ARGS)
{
#define LIST_SHARDS_COLS 7
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KinesisStream *stream;
	ShardFilter filter;
	int32		after = -1;
	int64		at_secs = 0;
	int			i;

	kinesis_check_loaded();
	stream = fresh_stream(KinesisStreamNameArg(fcinfo, 0));
	filter = parse_shard_filter(fcinfo, stream, &after, &at_secs);

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < stream->nshards; i++)
	{
		KinesisShard *shard = &stream->shards[i];
		Datum		values[LIST_SHARDS_COLS];
		bool		nulls[LIST_SHARDS_COLS];

		if (!shard_matches(shard, filter, after, at_secs))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(KinesisShardIdString(shard->shard_index));
		nulls[1] = shard->parent_index < 0;
		if (!nulls[1])
			values[1] = CStringGetTextDatum(KinesisShardIdString(shard->parent_index));
		nulls[2] = shard->adjacent_parent_index < 0;
		if (!nulls[2])
			values[2] = CStringGetTextDatum(KinesisShardIdString(shard->adjacent_parent_index));
		values[3] = KinesisHashKeyToNumeric(shard->start_key);
		values[4] = KinesisHashKeyToNumeric(shard->end_key);
		values[5] = KinesisShardStartingSeqNo(shard);
		nulls[6] = shard->close_secs < 0;
		if (!nulls[6])
			values[6] = KinesisShardEndingSeqNo(shard);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
