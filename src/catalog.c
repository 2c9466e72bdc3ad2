/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Per-backend cache of streams and their shards, read from the
 *	  kinesis.streams and kinesis.shards tables, invalidated through the
 *	  relcache callback of each stream's table.
 *
 * The data plane never reads the catalog tables once a stream is cached.
 * Every change to a stream (control.c) invalidates the relcache entry of
 * the stream's partitioned table at commit; our callback marks the cached
 * entry stale and the next lookup reloads it.  Invalidations are processed
 * when a relation lock is first taken in a transaction, so callers lock
 * the shard they use (KinesisLockShard) and start over when that made
 * their entry stale.  A reload reads the catalog with the latest snapshot
 * and repeats itself if an invalidation arrived meanwhile, so a concurrent
 * change is never lost.
 *
 * Processes: any backend calling kinesis functions.  No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "kinesis.h"

static HTAB *stream_cache = NULL;
static MemoryContext stream_cache_cxt = NULL;

/* Counts relcache invalidations, to detect one during a reload */
static uint64 inval_generation = 0;

static void catalog_relcache_callback(Datum arg, Oid relid);
static bool stream_load(KinesisStream *stream);

/*
 * Register the invalidation callback; called from _PG_init.
 */
void
KinesisCatalogInit(void)
{
	CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
}

static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	KinesisStream *stream;

	inval_generation++;
	if (stream_cache == NULL)
		return;
	hash_seq_init(&status, stream_cache);
	while ((stream = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || stream->relid == relid)
			stream->valid = false;
	}
}

/*
 * Mark the cached entry of a stream table stale in every backend, at
 * commit of the current transaction.
 */
void
KinesisInvalidateStream(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
}

Oid
KinesisDataNamespace(void)
{
	return get_namespace_oid(KINESIS_DATA_SCHEMA, false);
}

char *
KinesisStreamTableName(int64 stream_id)
{
	return psprintf("stream_" INT64_FORMAT, stream_id);
}

char *
KinesisShardTableName(int64 stream_id, int32 shard_index)
{
	return psprintf("stream_" INT64_FORMAT "_shard_%d", stream_id, shard_index);
}

/*
 * The SQL that creates a shard's table, partitioned by segment, and its
 * first segment: run as the stream's owner.
 */
char *
KinesisShardDDL(int64 stream_id, int32 shard_index)
{
	const char *shard = quote_qualified_identifier(KINESIS_DATA_SCHEMA,
												   KinesisShardTableName(stream_id, shard_index));

	return psprintf("CREATE TABLE %s PARTITION OF %s FOR VALUES IN (%d)"
					" PARTITION BY LIST (segment);%s",
					shard,
					quote_qualified_identifier(KINESIS_DATA_SCHEMA,
											   KinesisStreamTableName(stream_id)),
					shard_index,
					KinesisSegmentDDL(stream_id, shard_index, 0));
}

/*
 * The SQL that creates a segment partition of a shard's table.
 */
char *
KinesisSegmentDDL(int64 stream_id, int32 shard_index, int16 segment)
{
	return psprintf("CREATE TABLE %s PARTITION OF %s"
					" (PRIMARY KEY (sequence_counter)) FOR VALUES IN (%d);",
					quote_qualified_identifier(KINESIS_DATA_SCHEMA,
											   KinesisSegmentTableName(stream_id, shard_index, segment)),
					quote_qualified_identifier(KINESIS_DATA_SCHEMA,
											   KinesisShardTableName(stream_id, shard_index)),
					segment);
}

char *
KinesisSegmentTableName(int64 stream_id, int32 shard_index, int16 segment)
{
	return psprintf("stream_" INT64_FORMAT "_shard_%d_s%d", stream_id, shard_index,
					segment);
}

/*
 * The partition of a shard's segment.  Maintenance creates a segment's
 * partition (and invalidates the stream) before it makes it current, so a
 * cache that does not know it yet was loaded before; look the partition up
 * by name and remember it.
 */
Oid
KinesisSegmentRelid(KinesisStream *stream, KinesisShard *shard, int16 segment)
{
	if (!OidIsValid(shard->segments[segment]))
	{
		AcceptInvalidationMessages();
		shard->segments[segment] =
			get_relname_relid(KinesisSegmentTableName(stream->stream_id,
													   shard->shard_index, segment),
							  KinesisDataNamespace());
		if (!OidIsValid(shard->segments[segment]))
			elog(ERROR, "segment %d of shard %d of stream \"%s\" does not exist",
				 segment, shard->shard_index, stream->name);
	}
	return shard->segments[segment];
}

char *
KinesisShardIdString(int32 shard_index)
{
	return psprintf("shardId-%012d", shard_index);
}

char *
KinesisStreamArn(const char *name)
{
	return psprintf("arn:aws:kinesis:%s:%s:stream/%s",
					kinesis_region, kinesis_account_id, name);
}

const char *
KinesisStatusName(KinesisStreamStatus status)
{
	switch (status)
	{
		case KINESIS_STATUS_CREATING:
			return "CREATING";
		case KINESIS_STATUS_ACTIVE:
			return "ACTIVE";
		case KINESIS_STATUS_UPDATING:
			return "UPDATING";
		case KINESIS_STATUS_DELETING:
			return "DELETING";
	}
	return "UNKNOWN";
}

const char *
KinesisModeName(KinesisStreamMode mode)
{
	return mode == KINESIS_MODE_ON_DEMAND ? "ON_DEMAND" : "PROVISIONED";
}

static KinesisStreamStatus
status_from_name(const char *name)
{
	if (strcmp(name, "CREATING") == 0)
		return KINESIS_STATUS_CREATING;
	if (strcmp(name, "UPDATING") == 0)
		return KINESIS_STATUS_UPDATING;
	if (strcmp(name, "DELETING") == 0)
		return KINESIS_STATUS_DELETING;
	return KINESIS_STATUS_ACTIVE;
}

/*
 * Run a catalog query with the latest snapshot, so that a reload sees every
 * change committed before it.
 */
static void
catalog_query(const char *sql, int64 stream_id, const char *name)
{
	Oid			argtype = name ? TEXTOID : INT8OID;
	Datum		arg = name ? CStringGetTextDatum(name) : Int64GetDatum(stream_id);
	SPIPlanPtr	plan = SPI_prepare(sql, 1, &argtype);
	int			ret;

	if (plan == NULL)
		elog(ERROR, "could not prepare kinesis catalog query: %s",
			 SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, &arg, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "kinesis catalog query failed: %s",
			 SPI_result_code_string(ret));
}

static KinesisHashKey
spi_hash_key(uint64 row, int col)
{
	KinesisHashKey key;

	if (!KinesisHashKeyParse(KinesisSpiText(row, col), &key))
		elog(ERROR, "invalid hash key in kinesis.shards");
	return key;
}

static int
shard_cmp_start_key(const void *a, const void *b)
{
	const KinesisShard *sa = *(KinesisShard *const *) a;
	const KinesisShard *sb = *(KinesisShard *const *) b;

	if (sa->start_key < sb->start_key)
		return -1;
	return sa->start_key > sb->start_key ? 1 : 0;
}

/*
 * Read the shards of a loaded stream into its context.
 */
static void
stream_load_shards(KinesisStream *stream, Oid nspid)
{
	uint64		i;
	int			j;
	int			nopen = 0;

	catalog_query("SELECT shard_index, parent_shard_index, adjacent_parent_shard_index,"
				  " starting_hash_key::text, ending_hash_key::text,"
				  " extract(epoch FROM created_at)::int8,"
				  " extract(epoch FROM closed_at)::int8, current_segment"
				  " FROM kinesis.shards WHERE stream_id = $1 AND expired_at IS NULL"
				  " ORDER BY shard_index",
				  stream->stream_id, NULL);

	stream->nshards = (int) SPI_processed;
	stream->shards = MemoryContextAllocZero(stream->cxt,
											sizeof(KinesisShard) * Max(stream->nshards, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		KinesisShard *shard = &stream->shards[i];

		shard->shard_index = (int32) KinesisSpiInt(i, 1, -1);
		shard->parent_index = (int32) KinesisSpiInt(i, 2, -1);
		shard->adjacent_parent_index = (int32) KinesisSpiInt(i, 3, -1);
		shard->start_key = spi_hash_key(i, 4);
		shard->end_key = spi_hash_key(i, 5);
		shard->create_secs = KinesisSpiInt(i, 6, 0);
		shard->close_secs = KinesisSpiInt(i, 7, -1);
		shard->catalog_segment = (int16) KinesisSpiInt(i, 8, 0);
		shard->relid = get_relname_relid(KinesisShardTableName(stream->stream_id,
															   shard->shard_index),
										 nspid);
		for (j = 0; j < KINESIS_SEGMENTS; j++)
			shard->segments[j] =
				get_relname_relid(KinesisSegmentTableName(stream->stream_id,
														  shard->shard_index, j),
								  nspid);
		if (!OidIsValid(shard->relid))
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("table of shard \"%s\" of stream \"%s\" does not exist",
							KinesisShardIdString(shard->shard_index), stream->name),
					 errhint("The table was dropped outside kinesis.delete_stream; delete the stream.")));
		if (shard->close_secs < 0)
			nopen++;
	}

	stream->nopen = nopen;
	stream->open_shards = MemoryContextAlloc(stream->cxt,
											 sizeof(KinesisShard *) * Max(nopen, 1));
	nopen = 0;
	for (i = 0; i < (uint64) stream->nshards; i++)
	{
		if (stream->shards[i].close_secs < 0)
			stream->open_shards[nopen++] = &stream->shards[i];
	}
	qsort(stream->open_shards, nopen, sizeof(KinesisShard *),
		  shard_cmp_start_key);
}

/*
 * A table of schema kinesis, or InvalidOid when the installed version of
 * the extension has none of that name.
 */
Oid
KinesisCatalogTable(const char *name)
{
	return get_relname_relid(name, get_namespace_oid(KINESIS_SCHEMA, false));
}

/*
 * Read the names of a loaded stream's registered consumers.
 */
static void
stream_load_consumers(KinesisStream *stream)
{
	uint64		i;
	MemoryContext old;

	stream->consumers = NIL;
	if (!OidIsValid(KinesisCatalogTable("consumers")))
		return;					/* 0.1.0, until ALTER EXTENSION UPDATE */
	catalog_query("SELECT consumer_name FROM kinesis.consumers"
				  " WHERE stream_id = $1 AND consumer_status = 'ACTIVE'",
				  stream->stream_id, NULL);
	old = MemoryContextSwitchTo(stream->cxt);
	stream->consumers = NIL;
	for (i = 0; i < SPI_processed; i++)
		stream->consumers = lappend(stream->consumers, pstrdup(KinesisSpiText(i, 1)));
	MemoryContextSwitchTo(old);
}

/*
 * Whether a consumer is registered with a cached stream.
 */
bool
KinesisStreamHasConsumer(KinesisStream *stream, const char *consumer)
{
	ListCell   *lc;

	foreach(lc, stream->consumers)
	{
		if (strcmp(lfirst(lc), consumer) == 0)
			return true;
	}
	return false;
}

/*
 * Fill a cache entry from the catalog.  Returns false when the stream does
 * not exist.
 */
static bool
stream_load(KinesisStream *stream)
{
	Oid			nspid = KinesisDataNamespace();
	bool		found = false;

	/* the cache serves every role of the session: pin name lookup */
	int			nestlevel = KinesisSpiBegin();

	catalog_query("SELECT stream_id, stream_status, stream_mode,"
				  " retention_period_hours, max_record_size_kib, created_at"
				  " FROM kinesis.streams WHERE stream_name = $1",
				  0, stream->name);
	if (SPI_processed == 1)
	{
		stream->stream_id = KinesisSpiInt(0, 1, 0);
		stream->status = status_from_name(KinesisSpiText(0, 2));
		stream->mode = strcmp(KinesisSpiText(0, 3), "ON_DEMAND") == 0 ?
			KINESIS_MODE_ON_DEMAND : KINESIS_MODE_PROVISIONED;
		stream->retention_hours = (int32) KinesisSpiInt(0, 4, 24);
		stream->max_record_bytes = (int32) KinesisSpiInt(0, 5, 1024) * 1024;
		stream->created_at = KinesisSpiInt(0, 6, 0);
		stream->relid = get_relname_relid(KinesisStreamTableName(stream->stream_id),
										  nspid);
		if (!OidIsValid(stream->relid))
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("table of stream \"%s\" does not exist", stream->name),
					 errhint("The table was dropped outside kinesis.delete_stream; delete the stream.")));
		stream_load_shards(stream, nspid);
		stream_load_consumers(stream);
		found = true;
	}

	KinesisSpiEnd(nestlevel);
	return found;
}

/*
 * The cached description of a stream, loaded when missing or stale.
 * Raises KN001 when the stream does not exist, unless missing_ok.
 *
 * A returned pointer stays usable until the next lookup of the same name
 * in this backend; callers that run across several calls copy what they
 * need.
 */
KinesisStream *
KinesisStreamLookup(const char *name, bool missing_ok)
{
	KinesisStream *stream;
	bool		found;
	char		key[KINESIS_MAX_NAME_LEN + 1];

	if (stream_cache == NULL)
	{
		HASHCTL		ctl;

		stream_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
												 "kinesis stream cache",
												 ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(KinesisStream);
		ctl.hcxt = stream_cache_cxt;
		stream_cache = hash_create("kinesis streams", 64, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	memset(key, 0, sizeof(key));
	strlcpy(key, name, sizeof(key));
	stream = hash_search(stream_cache, key, HASH_ENTER, &found);
	if (found && stream->valid)
		return stream;

	if (found && stream->cxt)
		MemoryContextDelete(stream->cxt);
	stream->cxt = NULL;
	stream->valid = false;

	for (;;)
	{
		uint64		generation = inval_generation;

		if (stream->cxt)
			MemoryContextDelete(stream->cxt);
		stream->cxt = AllocSetContextCreate(stream_cache_cxt, "kinesis stream",
											ALLOCSET_SMALL_SIZES);
		stream->relid = InvalidOid;
		stream->state = NULL;
		if (!stream_load(stream))
		{
			MemoryContextDelete(stream->cxt);
			hash_search(stream_cache, key, HASH_REMOVE, NULL);
			if (missing_ok)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
					 errmsg("stream \"%s\" does not exist", name)));
		}
		if (generation == inval_generation)
			break;
	}
	stream->valid = true;
	return stream;
}

/*
 * A shard of a cached stream by index, or NULL.
 */
KinesisShard *
KinesisShardByIndex(KinesisStream *stream, int32 index)
{
	int			lo = 0,
				hi = stream->nshards - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int32		cur = stream->shards[mid].shard_index;

		if (cur == index)
			return &stream->shards[mid];
		if (cur < index)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * The shard named by a shard id (lenient, see KinesisParseShardIndex), or
 * KN001.
 */
KinesisShard *
KinesisShardLookup(KinesisStream *stream, const char *shard_id)
{
	bool		ok;
	int32		index = KinesisParseShardIndex(shard_id, &ok);
	KinesisShard *shard = ok ? KinesisShardByIndex(stream, index) : NULL;

	if (shard == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_RESOURCE_NOT_FOUND),
				 errmsg("shard \"%s\" does not exist in stream \"%s\"",
						shard_id, stream->name)));
	return shard;
}

/*
 * The open shard whose hash key range holds key.
 */
KinesisShard *
KinesisShardForKey(KinesisStream *stream, KinesisHashKey key)
{
	int			lo = 0,
				hi = stream->nopen - 1;

	/* last open shard with start_key <= key */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (stream->open_shards[mid]->start_key <= key)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (stream->nopen == 0 || stream->open_shards[lo]->start_key > key ||
		stream->open_shards[lo]->end_key < key)
		elog(ERROR, "no open shard of stream \"%s\" covers hash key %s",
			 stream->name, KinesisHashKeyToString(key));
	return stream->open_shards[lo];
}

/*
 * Lock a shard's table and report whether the stream's cache entry is
 * still valid afterwards.  Taking the lock processes pending
 * invalidations; when that made the entry stale the caller starts over
 * with a fresh lookup (the lock stays held, which is harmless).
 */
bool
KinesisLockShard(KinesisStream *stream, KinesisShard *shard, LOCKMODE mode)
{
	LockRelationOid(shard->relid, mode);
	return stream->valid;
}

/*
 * Raise 42501 unless the current user has the privilege on the stream's
 * table.
 */
void
KinesisCheckStreamPrivilege(KinesisStream *stream, AclMode mode)
{
	if (pg_class_aclcheck(stream->relid, GetUserId(), mode) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for stream \"%s\"", stream->name),
				 errhint("Grant %s on table %s.%s to the role.",
						 mode == ACL_INSERT ? "INSERT" : "SELECT",
						 KINESIS_DATA_SCHEMA,
						 KinesisStreamTableName(stream->stream_id))));
}
