/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every kinesis.* setting, defined in one place.
 *
 * Settings that size shared memory are PGC_POSTMASTER and are read only by
 * the shared-memory request hook (stable.c).  The rest can change at any
 * time; they are read where they are used.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "utils/guc.h"

#include "kinesis.h"

char	   *kinesis_region = NULL;
char	   *kinesis_account_id = NULL;
int			kinesis_max_shards = 10000;
int			kinesis_max_shards_per_xact = 1024;
int			kinesis_clock_offset = 0;
bool		kinesis_enable_workers = true;
bool		kinesis_enforce_limits = true;
int			kinesis_metrics_history = 1440;
int			kinesis_autoscale_window = 60000;
int			kinesis_autoscale_split_percent = 50;
int			kinesis_autoscale_merge_percent = 10;
int			kinesis_autoscale_max_shards = 64;
int			kinesis_maintenance_interval = 10000;

/*
 * An account id is 12 decimal digits, as in AWS ARNs.
 */
static bool
check_account_id(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;
	int			n = 0;

	for (; *p; p++, n++)
	{
		if (!isdigit((unsigned char) *p))
			break;
	}
	if (*p != '\0' || n != 12)
	{
		GUC_check_errdetail("An account id is exactly 12 decimal digits.");
		return false;
	}
	return true;
}

/*
 * A region is a non-empty word of lower-case letters, digits and dashes.
 */
static bool
check_region(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;

	if (*p == '\0')
	{
		GUC_check_errdetail("The region must not be empty.");
		return false;
	}
	for (; *p; p++)
	{
		if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) ||
			  *p == '-'))
		{
			GUC_check_errdetail("A region consists of lower-case letters, digits and \"-\".");
			return false;
		}
	}
	return true;
}

/*
 * Define every setting; called from _PG_init under shared_preload_libraries.
 */
void
KinesisGucInit(void)
{
	DefineCustomStringVariable("kinesis.region",
							   "Region shown in stream ARNs.",
							   NULL,
							   &kinesis_region,
							   "us-east-1",
							   PGC_SIGHUP,
							   0,
							   check_region, NULL, NULL);

	DefineCustomStringVariable("kinesis.account_id",
							   "Twelve-digit account id shown in stream ARNs.",
							   NULL,
							   &kinesis_account_id,
							   "000000000000",
							   PGC_SIGHUP,
							   0,
							   check_account_id, NULL, NULL);

	DefineCustomIntVariable("kinesis.max_shards",
							"Maximum number of shards across all streams of the cluster.",
							"Sizes the shared-memory shard table; create_stream refuses to go beyond it.",
							&kinesis_max_shards,
							10000, 1, 1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.max_shards_per_transaction",
							"Maximum number of distinct shards one transaction can write.",
							"Sizes the per-backend part of the in-flight writer registry.",
							&kinesis_max_shards_per_xact,
							1024, 1, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.debug_clock_offset",
							"Moves the clock that decides iterator expiry, retention and throughput refills (testing only).",
							"Sequence numbers and arrival timestamps always use the real clock.",
							&kinesis_clock_offset,
							0, -INT_MAX, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S | GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("kinesis.enable_workers",
							 "Runs a maintenance worker in every database with the extension.",
							 "When off, schedule kinesis.run_maintenance() instead, for example with pg_cron.",
							 &kinesis_enable_workers,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("kinesis.enforce_limits",
							 "Throttles the shards of provisioned streams to their Kinesis rates.",
							 "Per shard: writes 1 MiB and 1000 records per second, reads 2 MiB and 5 get_records calls per second.",
							 &kinesis_enforce_limits,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.metrics_history",
							"How long per-minute metrics are kept in kinesis.metric_minutes.",
							"0 stops collecting them.",
							&kinesis_metrics_history,
							1440, 0, 527040,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.autoscale_window",
							"Time over which autoscaling measures a shard's write rate.",
							"ON_DEMAND streams only; see kinesis.autoscale_split_percent.",
							&kinesis_autoscale_window,
							60000, 100, 86400000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.autoscale_split_percent",
							"Write rate, in percent of a shard's capacity, above which autoscaling splits a shard.",
							"A shard's capacity is 1 MiB or 1000 records per second.",
							&kinesis_autoscale_split_percent,
							50, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.autoscale_merge_percent",
							"Write rate, in percent of a shard's capacity, below which autoscaling merges two adjacent shards.",
							"Both shards must be below it for a whole window.",
							&kinesis_autoscale_merge_percent,
							10, 0, 100,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.autoscale_max_shards",
							"Most open shards autoscaling gives an ON_DEMAND stream.",
							NULL,
							&kinesis_autoscale_max_shards,
							64, 1, 10000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kinesis.maintenance_interval",
							"Time between two maintenance passes of a database's worker.",
							NULL,
							&kinesis_maintenance_interval,
							10000, 100, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("kinesis");
}

/*
 * The clock for expiry and retention decisions: the real clock plus the
 * testing offset.
 */
TimestampTz
KinesisNow(void)
{
	return GetCurrentTimestamp() +
		(TimestampTz) kinesis_clock_offset * USECS_PER_SEC;
}
