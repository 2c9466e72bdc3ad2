/*-------------------------------------------------------------------------
 *
 * autoscale.c
 *	  Automatic scaling of ON_DEMAND streams: split shards that write
 *	  near their capacity, merge adjacent cold ones.
 *
 * Each shard's write rate is measured over windows of
 * kinesis.autoscale_window: the metrics flush (metrics.c) adds the bytes
 * and records a shard took since the previous flush to its current window,
 * and a maintenance pass that finds a window complete turns it into the
 * shard's rate and starts the next one.  A pass then takes at most one
 * decision per stream, recorded in kinesis.scaling_events:
 *
 *	- split the open shard with the highest rate, in the middle of its hash
 *	  range, when that rate is above kinesis.autoscale_split_percent of a
 *	  shard's capacity (1 MiB or 1000 records per second) and the stream has
 *	  fewer than kinesis.autoscale_max_shards open shards;
 *	- otherwise merge the first adjacent pair of open shards whose rates
 *	  over a whole window are both below kinesis.autoscale_merge_percent.
 *
 * The gap between the two thresholds keeps a merged shard far from the
 * split threshold, so decisions do not flap.  As in Kinesis, splits are
 * even, not hot-key aware: one hot partition key stays bound by one shard.
 *
 * Processes: maintenance workers and kinesis.run_maintenance().  Locking:
 * the shard state's spinlock around the window; the reshard itself locks
 * as any reshard does (reshard.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "kinesis.h"

/* A shard's capacity, per second */
#define SHARD_BYTES_PER_SEC		(1024.0 * 1024.0)
#define SHARD_RECORDS_PER_SEC	1000.0

/* A shard's load over its last complete window */
typedef struct ShardLoad
{
	bool		known;			/* a whole window was measured */
	double		bytes;			/* per second */
	double		records;		/* per second */
	double		percent;		/* of capacity, the higher of the two */
} ShardLoad;

/*
 * Start the first window of a new shard state.
 */
void
KinesisAutoscaleInit(KinesisShardState *state)
{
	state->window_start = GetCurrentTimestamp();
	state->window_bytes = 0;
	state->window_records = 0;
	state->rate_known = false;
	state->rate_bytes = 0;
	state->rate_records = 0;
}

/*
 * Add flushed writes to a shard's current window.
 */
void
KinesisAutoscaleFeed(KinesisShardState *state, int64 bytes, int64 records)
{
	SpinLockAcquire(&state->mutex);
	state->window_bytes += bytes;
	state->window_records += records;
	SpinLockRelease(&state->mutex);
}

/*
 * The load of an open shard, closing its window when complete.  A shard
 * nobody has written since the server started has no state: it is cold
 * once it is a window old.
 */
static ShardLoad
shard_load(KinesisStream *stream, KinesisShard *shard, TimestampTz now)
{
	KinesisShardState *state = KinesisStableFind(stream, shard);
	int64		window = (int64) kinesis_autoscale_window * 1000;
	ShardLoad	load = {false, 0, 0, 0};

	if (state == NULL)
	{
		TimestampTz created = (TimestampTz) shard->create_secs * USECS_PER_SEC -
			((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);

		load.known = now - created >= window;
		return load;
	}

	SpinLockAcquire(&state->mutex);
	if (now - state->window_start >= window)
	{
		double		secs = (double) (now - state->window_start) / USECS_PER_SEC;

		state->rate_bytes = state->window_bytes / secs;
		state->rate_records = state->window_records / secs;
		state->rate_known = true;
		state->window_start = now;
		state->window_bytes = 0;
		state->window_records = 0;
	}
	load.known = state->rate_known;
	load.bytes = state->rate_bytes;
	load.records = state->rate_records;
	SpinLockRelease(&state->mutex);

	load.percent = 100.0 * Max(load.bytes / SHARD_BYTES_PER_SEC,
							   load.records / SHARD_RECORDS_PER_SEC);
	return load;
}

static char *
load_text(ShardLoad *load)
{
	return psprintf("%.0f KiB/s and %.0f records/s, %.0f%% of a shard",
					load->bytes / 1024.0, load->records, load->percent);
}

/*
 * Decide the autoscaling step of an on-demand stream, if any.  Measures
 * every open shard, so it is called once per stream and pass.
 */
bool
KinesisAutoscalePlan(KinesisStream *stream, TimestampTz now,
					 KinesisAutoscaleDecision *decision)
{
	ShardLoad  *loads;
	int			hottest = -1;
	int			i;

	if (stream->mode != KINESIS_MODE_ON_DEMAND || stream->nopen == 0)
		return false;

	loads = palloc(sizeof(ShardLoad) * stream->nopen);
	for (i = 0; i < stream->nopen; i++)
	{
		loads[i] = shard_load(stream, stream->open_shards[i], now);
		if (loads[i].known && (hottest < 0 || loads[i].percent > loads[hottest].percent))
			hottest = i;
	}

	if (hottest >= 0 && loads[hottest].percent > kinesis_autoscale_split_percent &&
		stream->nopen < kinesis_autoscale_max_shards)
	{
		decision->shard_index = stream->open_shards[hottest]->shard_index;
		decision->adjacent_index = -1;
		decision->detail = psprintf("%s wrote %s over the last window",
									KinesisShardIdString(decision->shard_index),
									load_text(&loads[hottest]));
		return true;
	}

	for (i = 0; i + 1 < stream->nopen; i++)
	{
		KinesisShard *a = stream->open_shards[i];
		KinesisShard *b = stream->open_shards[i + 1];

		if (loads[i].known && loads[i + 1].known &&
			loads[i].percent < kinesis_autoscale_merge_percent &&
			loads[i + 1].percent < kinesis_autoscale_merge_percent &&
			a->end_key != KINESIS_HASH_KEY_MAX && a->end_key + 1 == b->start_key)
		{
			decision->shard_index = a->shard_index;
			decision->adjacent_index = b->shard_index;
			decision->detail = psprintf("%s and %s wrote %s and %s over the last window",
										KinesisShardIdString(a->shard_index),
										KinesisShardIdString(b->shard_index),
										load_text(&loads[i]), load_text(&loads[i + 1]));
			return true;
		}
	}
	return false;
}
