/*-------------------------------------------------------------------------
 *
 * kinesis.h
 *	  Private declarations shared by the modules of the kinesis extension.
 *
 * One header for the whole module (postgres_fdw style): constants and
 * limits first, then the SQLSTATEs of our own class KN, then the types,
 * then the functions of each file grouped under a comment naming the file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KINESIS_H
#define KINESIS_H

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/ilist.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/lockdefs.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#ifndef PG_INT128_TYPE
#error "kinesis needs a compiler with a 128-bit integer type"
#endif

/* Limits of the Kinesis API (spec/kinesis-api.md sections 1 and 4) */
#define KINESIS_MAX_NAME_LEN			128
#define KINESIS_MAX_PARTITION_KEY_LEN	256
#define KINESIS_MAX_PUT_RECORDS			500
#define KINESIS_MAX_PUT_RECORDS_BYTES	(5 * 1024 * 1024)
#define KINESIS_DEFAULT_MAX_RECORD_KIB	1024
#define KINESIS_MAX_GET_LIMIT			10000
#define KINESIS_MAX_WAIT_MS		300000	/* longest wait_ms of a read */
#define KINESIS_MAX_GET_BYTES			(10 * 1024 * 1024)
#define KINESIS_ITERATOR_LIFETIME_MS	300000
#define KINESIS_MAX_ITERATOR_LEN		512
#define KINESIS_MIN_RETENTION_HOURS		24
#define KINESIS_MAX_RETENTION_HOURS		8760
#define KINESIS_ON_DEMAND_SHARDS		4
#define KINESIS_MAX_TAGS				50
#define KINESIS_MAX_TAG_KEY_LEN			128
#define KINESIS_MAX_TAG_VALUE_LEN		256

/* Time-ranged segments of each shard, used as a ring (maintenance.c) */
#define KINESIS_SEGMENTS				3

/* Columns of the record tables */
#define REC_COL_COUNTER		0
#define REC_COL_ARRIVAL		1
#define REC_COL_SHARD		2
#define REC_COL_SEGMENT		3
#define REC_COL_KEY			4
#define REC_COL_DATA		5
#define REC_NCOLS			6

/* The counter of a closed shard's EndingSequenceNumber (spec 3.3) */
#define KINESIS_MAX_COUNTER				INT64CONST(0x7fffffffffffffff)

/* Schemas of the catalog and of the record tables */
#define KINESIS_SCHEMA					"kinesis"
#define KINESIS_DATA_SCHEMA				"kinesis_data"

/*
 * SQLSTATEs of our own class KN (API.md, "Errors").  Privilege failures use
 * the standard ERRCODE_INSUFFICIENT_PRIVILEGE (42501).
 */
#define ERRCODE_KINESIS_RESOURCE_NOT_FOUND		MAKE_SQLSTATE('K','N','0','0','1')
#define ERRCODE_KINESIS_RESOURCE_IN_USE			MAKE_SQLSTATE('K','N','0','0','2')
#define ERRCODE_KINESIS_INVALID_ARGUMENT		MAKE_SQLSTATE('K','N','0','0','3')
#define ERRCODE_KINESIS_LIMIT_EXCEEDED			MAKE_SQLSTATE('K','N','0','0','4')
#define ERRCODE_KINESIS_THROUGHPUT_EXCEEDED		MAKE_SQLSTATE('K','N','0','0','5')
#define ERRCODE_KINESIS_EXPIRED_ITERATOR		MAKE_SQLSTATE('K','N','0','0','6')
#define ERRCODE_KINESIS_EXPIRED_NEXT_TOKEN		MAKE_SQLSTATE('K','N','0','0','7')
#define ERRCODE_KINESIS_VALIDATION				MAKE_SQLSTATE('K','N','0','0','8')

/* Unsigned 128-bit hash keys */
typedef uint128 KinesisHashKey;

#define KINESIS_HASH_KEY_MAX	(~(uint128) 0)

/* Stream status and mode, as stored in kinesis.streams */
typedef enum KinesisStreamStatus
{
	KINESIS_STATUS_CREATING,
	KINESIS_STATUS_ACTIVE,
	KINESIS_STATUS_UPDATING,
	KINESIS_STATUS_DELETING
} KinesisStreamStatus;

typedef enum KinesisStreamMode
{
	KINESIS_MODE_PROVISIONED,
	KINESIS_MODE_ON_DEMAND
} KinesisStreamMode;

/* Token buckets of a shard of a provisioned stream (throttle.c) */
typedef enum KinesisBucket
{
	KINESIS_BUCKET_WRITE_BYTES,
	KINESIS_BUCKET_WRITE_RECORDS,
	KINESIS_BUCKET_READ_BYTES,
	KINESIS_BUCKET_READ_CALLS,
	KINESIS_NBUCKETS
} KinesisBucket;

/*
 * Counters of a shard's shared state (metrics.c), added to by client
 * backends and taken by the flush into kinesis.metric_minutes.  Shard
 * states count shard-level metrics; the state of a stream (shard index
 * KINESIS_STREAM_STATE) counts the call-level ones.  *_MAX are maxima.
 */
typedef enum KinesisMetric
{
	/* shard level */
	KM_INCOMING_BYTES,
	KM_INCOMING_RECORDS,
	KM_OUTGOING_BYTES,
	KM_OUTGOING_RECORDS,
	KM_ITERATOR_AGE_MAX,
	KM_READ_THROTTLED,
	KM_WRITE_THROTTLED,
	/* stream level */
	KM_PUT_RECORD_CALLS,
	KM_PUT_RECORD_SUCCESS,
	KM_PUT_RECORD_BYTES,
	KM_PUT_RECORD_LATENCY,
	KM_PUT_RECORD_LATENCY_MAX,
	KM_PUT_RECORDS_CALLS,
	KM_PUT_RECORDS_SUCCESS,
	KM_PUT_RECORDS_TOTAL_RECORDS,
	KM_PUT_RECORDS_SUCCESSFUL_RECORDS,
	KM_PUT_RECORDS_THROTTLED_RECORDS,
	KM_PUT_RECORDS_BYTES,
	KM_PUT_RECORDS_LATENCY,
	KM_PUT_RECORDS_LATENCY_MAX,
	KM_GET_RECORDS_CALLS,
	KM_GET_RECORDS_SUCCESS,
	KM_GET_RECORDS_BYTES,
	KM_GET_RECORDS_RECORDS,
	KM_GET_RECORDS_LATENCY,
	KM_GET_RECORDS_LATENCY_MAX,
	KM_GET_RECORDS_ITERATOR_AGE_MAX,
	KINESIS_NMETRICS
} KinesisMetric;

/* Shard index of a stream's own shared state */
#define KINESIS_STREAM_STATE	(-1)

/*
 * Shared-memory state of one shard (stable.c).  Lives in a shared hash table
 * keyed by (database, stream id, shard index).
 */
typedef struct KinesisShardKey
{
	Oid			dboid;
	int32		shard_index;
	int64		stream_id;
} KinesisShardKey;

typedef struct KinesisShardState
{
	KinesisShardKey key;		/* hash key, must be first */
	slock_t		mutex;			/* protects everything below */
	int64		next_counter;	/* next sequence counter to hand out */
	int16		segment;		/* segment that new records go to */
	TimestampTz last_arrival;	/* arrival time of the newest allocation */
	int			nwriters;		/* length of writers */
	dlist_head	writers;		/* in-flight writers, ascending first_counter */
	TimestampTz bucket_time;	/* last refill of the buckets (throttle.c) */
	int64		buckets[KINESIS_NBUCKETS];	/* token levels, in millionths */
	pg_atomic_uint64 metrics[KINESIS_NMETRICS]; /* counted since the last flush */
	TimestampTz window_start;	/* autoscaling: current window (autoscale.c) */
	int64		window_bytes;	/* written in it, as flushed so far */
	int64		window_records;
	bool		rate_known;		/* a window has completed */
	double		rate_bytes;		/* per second, in the last complete window */
	double		rate_records;
} KinesisShardState;

/*
 * Backend-local description of one shard (catalog.c), part of a cached
 * stream.
 */
typedef struct KinesisShard
{
	int32		shard_index;	/* the N of shardId-N */
	int32		parent_index;	/* -1 when none */
	int32		adjacent_parent_index;	/* -1 when none */
	KinesisHashKey start_key;	/* inclusive */
	KinesisHashKey end_key;		/* inclusive */
	int64		create_secs;	/* creation time, epoch seconds */
	int64		close_secs;		/* closing time, or -1 while open */
	Oid			relid;			/* the shard's partition (partitioned by segment) */
	Oid			segments[KINESIS_SEGMENTS];	/* segment partitions, InvalidOid
											 * until created */
	int16		catalog_segment;	/* current segment when loaded */
	KinesisShardState *state;	/* shared state, attached on first use */
	uint64		writer_xact;	/* local transaction number in which this
								 * backend registered as a writer */
} KinesisShard;

/* Backend-local description of one stream (catalog.c) */
typedef struct KinesisStream
{
	char		name[KINESIS_MAX_NAME_LEN + 1]; /* hash key, must be first */
	bool		valid;			/* false once invalidated */
	MemoryContext cxt;			/* owns shards and open_shards */
	int64		stream_id;
	TimestampTz created_at;
	KinesisStreamStatus status;
	KinesisStreamMode mode;
	int32		retention_hours;
	int32		max_record_bytes;
	Oid			relid;			/* the stream's partitioned table */
	int			nshards;
	KinesisShard *shards;		/* every shard, ascending shard_index */
	int			nopen;
	KinesisShard **open_shards; /* open shards, ascending start_key */
	KinesisShardState *state;	/* the stream's own shared state (call
								 * metrics), attached on first use */
	List	   *consumers;		/* names of its registered consumers */
} KinesisStream;

/* Room for a numeric of up to 64 decimal digits (seqno.c) */
typedef union KinesisNumericBuf
{
	char		data[40];
	int64		align;
} KinesisNumericBuf;

/* A stream's catalog row, as control operations read it (control.c) */
typedef struct KinesisStreamRow
{
	char	   *name;
	int64		stream_id;
	char	   *status;
	int32		retention_hours;
	bool		on_demand;
	Oid			relid;			/* InvalidOid if the table is missing */
} KinesisStreamRow;

/* A decoded sequence number (seqno.c) */
typedef struct KinesisSeqNo
{
	int64		create_secs;	/* shard creation time, epoch seconds */
	int32		shard_index;
	int64		counter;		/* per-shard counter */
	int64		write_secs;		/* record arrival time, epoch seconds */
} KinesisSeqNo;

/* Encodes the sequence numbers of a shard's records in order (seqno.c) */
typedef struct KinesisSeqNoEncoder
{
	const KinesisShard *shard;
	int64		counter;		/* of the previous record, -1 before the first */
	int64		write_secs;		/* its arrival second */
	int16		digits[16];		/* its number in base 10000, least
								 * significant first */
	int			ndigits;
} KinesisSeqNoEncoder;

/* A decoded shard iterator (iterator.c) */
typedef struct KinesisIterator
{
	char		stream_name[KINESIS_MAX_NAME_LEN + 1];
	int64		stream_id;
	TimestampTz stream_created_at;
	int32		shard_index;
	int64		after_counter;	/* position: records with larger counters */
	TimestampTz issued_at;
} KinesisIterator;

/* in kinesis.c */
extern void kinesis_check_loaded(void);

/* in guc.c */
extern char *kinesis_region;
extern char *kinesis_account_id;
extern int	kinesis_max_shards;
extern int	kinesis_max_shards_per_xact;
extern int	kinesis_clock_offset;
extern bool kinesis_enable_workers;
extern bool kinesis_enforce_limits;
extern int	kinesis_metrics_history;
extern int	kinesis_autoscale_window;
extern int	kinesis_autoscale_split_percent;
extern int	kinesis_autoscale_merge_percent;
extern int	kinesis_autoscale_max_shards;
extern int	kinesis_maintenance_interval;
extern void KinesisGucInit(void);
extern TimestampTz KinesisNow(void);

/* in hashkey.c */
extern KinesisHashKey KinesisPartitionKeyHash(const char *key, int len);
extern KinesisHashKey KinesisHashKeyFromNumeric(Datum num, const char *what,
												int entry);
extern Datum KinesisHashKeyToNumeric(KinesisHashKey key);
extern char *KinesisHashKeyToString(KinesisHashKey key);
extern bool KinesisHashKeyParse(const char *str, KinesisHashKey *result);
extern void KinesisInitialRange(int index, int count,
								KinesisHashKey *start, KinesisHashKey *end);
extern void KinesisMd5(const void *data, size_t len, uint8 digest[16]);

/* in seqno.c */
extern Datum KinesisSeqNoToNumeric(const KinesisSeqNo *seq, KinesisNumericBuf *buf);
extern Datum KinesisUint128ToNumeric(uint128 value);
extern char *KinesisSeqNoToString(const KinesisSeqNo *seq);
extern bool KinesisSeqNoFromNumeric(Datum num, KinesisSeqNo *seq);
extern TimestampTz KinesisSeqNoTime(Datum seqnum);
extern Datum KinesisShardStartingSeqNo(const KinesisShard *shard);
extern Datum KinesisShardEndingSeqNo(const KinesisShard *shard);
extern Datum KinesisRecordSeqNo(const KinesisShard *shard, int64 counter,
								TimestampTz arrival, KinesisNumericBuf *buf);
extern void KinesisSeqNoEncoderInit(KinesisSeqNoEncoder *enc,
									const KinesisShard *shard);
extern Datum KinesisSeqNoEncode(KinesisSeqNoEncoder *enc, int64 counter,
								TimestampTz arrival, KinesisNumericBuf *buf);

/* in buffer.c */
extern MemoryContext KinesisResultContext(MemoryContext owner);
extern char *KinesisArenaOpen(MemoryContext owner, Size *capacity);
extern void KinesisArenaClaim(Size size);

/* LWLocks of the "kinesis" tranche */
#define KINESIS_LWLOCK_SHARDS	0	/* stable.c: the shard state table */
#define KINESIS_LWLOCK_WORKERS	1	/* launcher.c: the worker slots */
#define KINESIS_LWLOCK_BUDGETS	2	/* throttle.c: the consumer budgets */
#define KINESIS_LWLOCKS			3

/* in launcher.c */
extern void KinesisLauncherInit(void);
extern Size KinesisLauncherShmemSize(void);
extern void KinesisLauncherShmemInit(void);
extern VirtualTransactionId KinesisWorkerStarted(int index, Oid *dboid);
extern void KinesisWorkerReport(int index, int actions, const char *error);
extern void KinesisWorkerAbsent(int index);

/* in shmem.c */
extern void KinesisShmemInit(void);

/* in stable.c */
extern void KinesisStableInit(void);
extern Size KinesisStableShmemSize(void);
extern void KinesisStableShmemInit(void);
extern void KinesisStableAttach(KinesisStream *stream, KinesisShard *shard);
extern KinesisShardState *KinesisStableStreamState(KinesisStream *stream);
typedef struct KinesisWaitSlot KinesisWaitSlot;
extern KinesisWaitSlot *KinesisStableWaitBegin(KinesisShard *shard);
extern KinesisWaitSlot *KinesisStableWaitBeginStream(KinesisStream *stream);
extern void KinesisStableWaitSleep(KinesisWaitSlot *slot, long timeout_ms);
extern void KinesisStableWaitEnd(KinesisWaitSlot *slot);
extern KinesisShardState *KinesisStableFind(KinesisStream *stream, KinesisShard *shard);
extern void KinesisStableClearStream(int64 stream_id);
extern void KinesisStableWalk(void (*fn) (KinesisShardState *state, void *arg), void *arg);
extern int64 KinesisStableAllocate(KinesisShard *shard, int count,
								   int64 min_counter, TimestampTz arrival,
								   int16 *segment);
extern int64 KinesisStableBound(KinesisShard *shard, TimestampTz *tip,
								 int64 *next_counter);
extern int64 KinesisStableNextCounter(KinesisShard *shard);
extern void KinesisStableForgetStream(int64 stream_id);
extern void KinesisStableForgetShard(int64 stream_id, int32 shard_index);
extern void KinesisStableSwitchSegment(KinesisStream *stream, KinesisShard *shard,
									   int16 segment);

/* in catalog.c */
extern void KinesisCatalogInit(void);
extern KinesisStream *KinesisStreamLookup(const char *name, bool missing_ok);
extern KinesisShard *KinesisShardByIndex(KinesisStream *stream, int32 index);
extern KinesisShard *KinesisShardForKey(KinesisStream *stream,
										KinesisHashKey key);
extern KinesisShard *KinesisShardLookup(KinesisStream *stream,
										const char *shard_id);
extern bool KinesisLockShard(KinesisStream *stream, KinesisShard *shard,
							 LOCKMODE mode);
extern Oid	KinesisCatalogTable(const char *name);
extern bool KinesisStreamHasConsumer(KinesisStream *stream, const char *consumer);
extern void KinesisCheckStreamPrivilege(KinesisStream *stream, AclMode mode);
extern void KinesisInvalidateStream(Oid relid);
extern char *KinesisShardIdString(int32 shard_index);
extern char *KinesisStreamArn(const char *name);
extern const char *KinesisStatusName(KinesisStreamStatus status);
extern const char *KinesisModeName(KinesisStreamMode mode);
extern Oid	KinesisDataNamespace(void);
extern char *KinesisShardTableName(int64 stream_id, int32 shard_index);
extern char *KinesisSegmentTableName(int64 stream_id, int32 shard_index,
									 int16 segment);
extern char *KinesisShardDDL(int64 stream_id, int32 shard_index);
extern char *KinesisSegmentDDL(int64 stream_id, int32 shard_index, int16 segment);
extern Oid	KinesisSegmentRelid(KinesisStream *stream, KinesisShard *shard,
								int16 segment);
extern char *KinesisStreamTableName(int64 stream_id);

/* in maintenance.c */
extern int	KinesisMaintenance(void);

/* in spi.c */
extern int	KinesisSpiBegin(void);
extern void KinesisSpiEnd(int nestlevel);
extern Oid	KinesisExtensionOwner(void);
extern void KinesisSpiExec(const char *sql, int nargs, Oid *types, Datum *values,
						   Oid role, int expected);
extern void KinesisSpiExecNulls(const char *sql, int nargs, Oid *types,
								Datum *values, const char *nulls, Oid role,
								int expected);
extern void KinesisSpiExecPlan(SPIPlanPtr *plan, const char *sql, int nargs,
							   Oid *types, Datum *values, const char *nulls,
							   Oid role, int expected);
/* KinesisSpiExecNulls through a plan saved for this call site (sql a literal) */
#define KinesisSpiExecSaved(sql, nargs, types, values, nulls, role, expected) \
	do { \
		static SPIPlanPtr saved_plan_ = NULL; \
		KinesisSpiExecPlan(&saved_plan_, "" sql, (nargs), (types), (values), \
						   (nulls), (role), (expected)); \
	} while (0)
extern Oid	KinesisRelationOwner(Oid relid);
extern int64 KinesisSpiInt(uint64 row, int col, int64 if_null);
extern char *KinesisSpiText(uint64 row, int col);
#define KINESIS_ANY_ERROR	(-1)
extern bool KinesisSubxactTry(void (*fn) (void *arg), void *arg, int tolerated,
							  char **message);

/* in control.c */
extern int	KinesisControlBegin(const char *cmdname);
extern KinesisStreamRow KinesisStreamRowGet(const char *name);
extern void KinesisRequireOwner(const KinesisStreamRow *row);
extern void KinesisRequireActive(const KinesisStreamRow *row);
extern void KinesisCheckShardLimit(int shard_count);

/* in consumer.c */
extern int64 KinesisConsumerCount(int64 stream_id);
extern TimestampTz KinesisConsumerRegister(KinesisStreamRow *row, const char *consumer);
extern void KinesisConsumerRemove(KinesisStreamRow *row, const char *consumer);

/* in get.c */
extern int64 KinesisShardCounter(Datum seqnum, KinesisStream *stream, KinesisShard *shard,
								 const char *argname);
extern bool KinesisCheckpointLag(KinesisStream *stream, KinesisShard *shard,
								 Datum checkpoint, int64 *lag_ms);
extern Datum KinesisShardLatestSeqNo(KinesisStream *stream, KinesisShard *shard);
extern Datum KinesisShardNextSeqNo(KinesisStream *stream, KinesisShard *shard, int64 after);
extern int	KinesisConsumeShard(KinesisStream *stream, KinesisShard *shard, int64 after,
								int limit, Tuplestorestate *store, TupleDesc desc,
								Datum shard_id, Datum token, const char *consumer,
								bool *drained);

/* in metrics.c */
extern void KinesisMetricsInit(KinesisShardState *state);
extern void KinesisMetricAdd(KinesisShardState *state, KinesisMetric m, int64 value);
extern void KinesisCounterMax(pg_atomic_uint64 *counter, int64 value);
extern void KinesisMetricMax(KinesisShardState *state, KinesisMetric m, int64 value);
extern void KinesisMetricLatency(KinesisShardState *state, KinesisMetric sum,
								 TimestampTz start);
extern int	KinesisMetricsFlush(void);

/* in autoscale.c */
typedef struct KinesisAutoscaleDecision
{
	int32		shard_index;	/* to split, or first of the pair to merge */
	int32		adjacent_index; /* -1 for a split */
	char	   *detail;
} KinesisAutoscaleDecision;

extern void KinesisAutoscaleInit(KinesisShardState *state);
extern void KinesisAutoscaleFeed(KinesisShardState *state, int64 bytes, int64 records);
extern bool KinesisAutoscalePlan(KinesisStream *stream, TimestampTz now,
								 KinesisAutoscaleDecision *decision);

/* in reshard.c */
extern void KinesisAutoscaleReshard(const char *stream_name, int32 index, int32 adjacent,
									const char *detail);

/* in throttle.c */
extern Size KinesisThrottleShmemSize(void);
extern void KinesisThrottleShmemInit(void);
extern bool KinesisConsumerAdmit(KinesisStream *stream, KinesisShard *shard,
								 const char *consumer, bool raise);
extern void KinesisConsumerSpent(KinesisStream *stream, KinesisShard *shard,
								 const char *consumer, int64 records, int64 bytes,
								 int64 behind_ms);
extern HTAB *KinesisThrottleLiveSet(void);
extern void KinesisThrottleLiveAdd(HTAB *live, int64 stream_id, int32 shard_index,
								   const char *consumer);
extern void KinesisThrottleReap(HTAB *live);
extern void KinesisThrottleWalkConsumers(void (*fn) (pg_atomic_uint64 *metrics, int64 stream_id,
													 int32 shard_index, const char *consumer,
													 void *arg),
										 void *arg);
extern void KinesisThrottleInit(KinesisShardState *state);
extern bool KinesisThrottled(KinesisStream *stream);
extern bool KinesisThrottleWrite(KinesisShard *shard, int64 bytes, TimestampTz now);
extern bool KinesisThrottleReadCall(KinesisShard *shard, TimestampTz now);
extern void KinesisThrottleReadBytes(KinesisShard *shard, int64 bytes);
extern char *KinesisThrottleEntryMessage(KinesisStream *stream, KinesisShard *shard);
extern void KinesisThrottleError(KinesisStream *stream, KinesisShard *shard, bool write);

/* in validate.c */
extern char *KinesisNameArg(FunctionCallInfo fcinfo, int argno, const char *argname,
							const char *what);
extern char *KinesisStreamNameArg(FunctionCallInfo fcinfo, int argno);
extern int32 KinesisWaitArg(FunctionCallInfo fcinfo, int argno);
extern void KinesisValidateName(const char *name, const char *what);
extern void KinesisValidateStreamName(const char *name);
extern void KinesisValidatePartitionKey(const char *key, int len, int entry);
extern void KinesisRequireArg(FunctionCallInfo fcinfo, int argno,
							  const char *argname);
extern int32 KinesisLimitArg(FunctionCallInfo fcinfo, int argno);
extern int	KinesisEnumValue(const char *value, const char *const *names, int n,
							 const char *what);
extern int32 KinesisParseShardIndex(const char *shard_id, bool *ok);

/* in iterator.c */
extern void KinesisIteratorInit(void);
extern text *KinesisIteratorEncode(KinesisStream *stream, KinesisShard *shard,
								   int64 after_counter);
extern void KinesisIteratorDecode(text *iterator, KinesisIterator *it);

#endif							/* KINESIS_H */
