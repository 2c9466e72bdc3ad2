/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Syntactic checks of arguments shared by the SQL-callable functions:
 *	  required arguments, stream names, partition keys, limits, shard ids.
 *
 * Violations raise KN008 (ValidationException) before anything is read or
 * written, so a call with bad input changes nothing.  Pure functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "kinesis.h"

/*
 * Raise KN008 when a required argument is NULL.
 */
void
KinesisRequireArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("argument \"%s\" must not be null", argname)));
}

/*
 * A stream or consumer name (what: "stream name", "consumer name"): 1-128
 * characters of [a-zA-Z0-9_.-].
 */
void
KinesisValidateName(const char *name, const char *what)
{
	const char *p;

	for (p = name; *p; p++)
	{
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
			break;
	}
	if (*p != '\0' || p == name || p - name > KINESIS_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("invalid %s \"%s\"", what, name),
				 errdetail("A %s has 1 to %d characters, each a letter, a digit, \"_\", \".\" or \"-\".",
						   what, KINESIS_MAX_NAME_LEN)));
}

void
KinesisValidateStreamName(const char *name)
{
	KinesisValidateName(name, "stream name");
}

/*
 * A name argument (stream, consumer or application; what names it in
 * messages), checked.
 */
char *
KinesisNameArg(FunctionCallInfo fcinfo, int argno, const char *argname, const char *what)
{
	char	   *name;

	KinesisRequireArg(fcinfo, argno, argname);
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	KinesisValidateName(name, what);
	return name;
}

/*
 * The stream_name argument, checked.
 */
char *
KinesisStreamNameArg(FunctionCallInfo fcinfo, int argno)
{
	return KinesisNameArg(fcinfo, argno, "stream_name", "stream name");
}

/*
 * The wait_ms argument of a read: 0 to KINESIS_MAX_WAIT_MS; 0 when the
 * function has no such argument.
 */
int32
KinesisWaitArg(FunctionCallInfo fcinfo, int argno)
{
	int32		wait_ms;

	if (PG_NARGS() <= argno)
		return 0;
	KinesisRequireArg(fcinfo, argno, "wait_ms");
	wait_ms = PG_GETARG_INT32(argno);
	if (wait_ms < 0 || wait_ms > KINESIS_MAX_WAIT_MS)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("wait_ms must be between 0 and %d", KINESIS_MAX_WAIT_MS),
				 errdetail("The value given was %d.", wait_ms)));
	return wait_ms;
}

/*
 * A partition key: 1-256 characters.  entry > 0 names the put_records
 * entry in the error context.
 */
void
KinesisValidatePartitionKey(const char *key, int len, int entry)
{
	int			nchars;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("partition key must not be empty"),
				 entry > 0 ? errcontext("record %d of the request", entry) : 0));
	if (len <= KINESIS_MAX_PARTITION_KEY_LEN)
		return;					/* no more characters than bytes */
	nchars = pg_mbstrlen_with_len(key, len);
	if (nchars > KINESIS_MAX_PARTITION_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("partition key is too long"),
				 errdetail("A partition key has at most %d characters; this one has %d.",
						   KINESIS_MAX_PARTITION_KEY_LEN, nchars),
				 entry > 0 ? errcontext("record %d of the request", entry) : 0));
}

/*
 * The position of value in names, or KN008 naming the valid values.
 */
int
KinesisEnumValue(const char *value, const char *const *names, int n,
				 const char *what)
{
	StringInfoData valid;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (strcmp(value, names[i]) == 0)
			return i;
	}

	initStringInfo(&valid);
	for (i = 0; i < n; i++)
		appendStringInfo(&valid, "%s%s", i == 0 ? "" : (i == n - 1 ? " or " : ", "),
						 names[i]);
	ereport(ERROR,
			(errcode(ERRCODE_KINESIS_VALIDATION),
			 errmsg("invalid %s \"%s\"", what, value),
			 errhint("The %s is %s.", what, valid.data)));
	return -1;
}

/*
 * The "limit" argument: 1-10000.
 */
int32
KinesisLimitArg(FunctionCallInfo fcinfo, int argno)
{
	int32		limit;

	KinesisRequireArg(fcinfo, argno, "limit");
	limit = PG_GETARG_INT32(argno);
	if (limit < 1 || limit > KINESIS_MAX_GET_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("limit must be between 1 and %d", KINESIS_MAX_GET_LIMIT),
				 errdetail("The limit given was %d.", limit)));
	return limit;
}

/*
 * The shard index in a shard id.  Like Kinesis, accept the part between
 * the first and the second "-" (or the whole text without "-") when it is
 * all digits and at most 2147483647: "shardId-000000000005", "shardId-5"
 * and "5" all name shard 5.  Sets *ok to false for anything else.
 */
int32
KinesisParseShardIndex(const char *shard_id, bool *ok)
{
	const char *start = strchr(shard_id, '-');
	const char *end;
	int64		value = 0;
	const char *p;

	start = start ? start + 1 : shard_id;
	end = strchr(start, '-');
	if (end == NULL)
		end = start + strlen(start);

	*ok = false;
	if (end == start)
		return -1;
	for (p = start; p < end; p++)
	{
		if (*p < '0' || *p > '9')
			return -1;
		value = value * 10 + (*p - '0');
		if (value > PG_INT32_MAX)
			return -1;
	}
	*ok = true;
	return (int32) value;
}
