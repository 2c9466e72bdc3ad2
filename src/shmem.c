/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared-memory hooks: one request and one startup hook for every
 *	  module that keeps state in shared memory (stable.c, launcher.c).
 *
 * Processes: the postmaster (request, startup) and every backend that
 * attaches (startup under EXEC_BACKEND).  AddinShmemInitLock is held while
 * the modules create or attach to their structures.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "kinesis.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
kinesis_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(KinesisStableShmemSize(),
											 KinesisLauncherShmemSize()),
									KinesisThrottleShmemSize()));
	RequestNamedLWLockTranche("kinesis", KINESIS_LWLOCKS);
}

static void
kinesis_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	KinesisStableShmemInit();
	KinesisLauncherShmemInit();
	KinesisThrottleShmemInit();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Install the hooks; called from _PG_init.
 */
void
KinesisShmemInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = kinesis_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = kinesis_shmem_startup;
}
