/*-------------------------------------------------------------------------
 *
 * buffer.c
 *	  Reusable memory for the results of reads.
 *
 * A page of records is a few megabytes (10,000 records of 200 bytes).
 * Allocated afresh per call, that memory comes from malloc, which hands
 * big blocks back to the kernel when they are freed, so every call pays
 * page faults on all of it again; on virtual machines that costs more than
 * the scan itself (measured: a read_records page of 10,000 records took
 * 28 ms with fresh memory and 2.5 ms with reused memory).  So the read
 * paths put their results in memory kept by the backend between calls:
 *
 *	- an AllocSet context with a large keeper block, for results made of
 *	  many small chunks (read_records' tuplestore);
 *	- a bump arena, for results made of a few large pieces (get_records'
 *	  array and result tuple), which AllocSet would give their own malloc
 *	  blocks.
 *
 * A caller names the memory context that owns its result; a reset
 * callback on it marks the result dead, so results live exactly as long as
 * they would in the owner and nothing leaks when a query fails.  When no
 * result is alive the context is reset (keeping its keeper block) and the
 * arena is rewound.  A request the arena cannot hold is served by the
 * owner context instead.
 *
 * Processes: client backends; backend-local state only, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "kinesis.h"

/* Sizes kept between calls */
#define RESULT_CONTEXT_KEEP		(8 * 1024 * 1024)
#define RESULT_ARENA_SIZE		(16 * 1024 * 1024)

static MemoryContext result_context = NULL;
static char *arena = NULL;
static Size arena_used = 0;
static int	live_results = 0;

static void
result_release(void *arg)
{
	Assert(live_results > 0);
	if (--live_results == 0)
	{
		if (result_context != NULL)
			MemoryContextReset(result_context);
		arena_used = 0;
	}
}

/*
 * Count a live result owned by owner until owner is reset.
 */
static void
result_register(MemoryContext owner)
{
	MemoryContextCallback *callback;

	callback = MemoryContextAlloc(owner, sizeof(MemoryContextCallback));
	callback->func = result_release;
	callback->arg = NULL;
	MemoryContextRegisterResetCallback(owner, callback);
	live_results++;
}

/*
 * The context to allocate a read result of many small chunks in; the
 * result is dead once owner is reset or deleted.
 */
MemoryContext
KinesisResultContext(MemoryContext owner)
{
	if (result_context == NULL)
		result_context = AllocSetContextCreate(TopMemoryContext,
											   "kinesis read results",
											   RESULT_CONTEXT_KEEP,
											   RESULT_CONTEXT_KEEP,
											   RESULT_CONTEXT_KEEP);
	result_register(owner);
	return result_context;
}

/*
 * Start a result of unknown size in the arena: returns where it starts
 * and, in *capacity, how much it may grow.  Finish with
 * KinesisArenaClaim.  Returns NULL when the arena has no room; the caller
 * then uses the owner context.
 */
char *
KinesisArenaOpen(MemoryContext owner, Size *capacity)
{
	if (arena == NULL)
		arena = MemoryContextAllocHuge(TopMemoryContext, RESULT_ARENA_SIZE);
	if (arena_used >= RESULT_ARENA_SIZE)
		return NULL;
	result_register(owner);
	*capacity = RESULT_ARENA_SIZE - arena_used;
	return arena + arena_used;
}

/*
 * Keep the first size bytes of the space KinesisArenaOpen returned.
 */
void
KinesisArenaClaim(Size size)
{
	arena_used += MAXALIGN(size);
	Assert(arena_used <= RESULT_ARENA_SIZE);
}
