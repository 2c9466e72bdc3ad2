/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher background worker: one per cluster, it starts one
 *	  maintenance worker (worker.c) per database that has the extension,
 *	  and keeps the table of workers shown by kinesis.workers.
 *
 * Processes:
 *	- the launcher, registered in _PG_init, started once recovery finished
 *	  (never on a standby), restarted by the postmaster 5 s after it
 *	  failed.  It connects to no database, scans pg_database every
 *	  LAUNCHER_NAPTIME_MS or when its latch is set, and starts a worker for
 *	  every database that may have the extension and has none running.
 *	  With kinesis.enable_workers off it stops them all and waits.
 *	- workers, which report in their slot and leave it ABSENT when their
 *	  database lacks the extension (they are then not restarted until
 *	  woken).
 *	- backends: CREATE EXTENSION wakes the launcher through
 *	  kinesis._launcher_wake(), passing its virtual transaction id so that
 *	  the new worker waits for the creating transaction to end;
 *	  DROP DATABASE, CREATE DATABASE from a template and ALTER DATABASE
 *	  RENAME / SET TABLESPACE, which need the database to themselves, stop
 *	  its worker first (ProcessUtility hook) and hold it off for a while.
 *	  So does DROP EXTENSION kinesis, which would otherwise deadlock with a
 *	  pass that holds the locks of some of the objects it drops.
 *
 * Locking: the worker slots are protected by LWLock KINESIS_LWLOCK_WORKERS
 * (exclusive to change a slot, shared to read them).  The launcher's
 * BackgroundWorkerHandles live in its own memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "kinesis.h"

#define LAUNCHER_NAPTIME_MS		10000
#define MAX_WORKER_SLOTS		64
#define HOLD_OFF_MS				10000	/* after a database was taken away */

/* What a slot's database is known to be */
typedef enum WorkerSlotState
{
	SLOT_FREE,					/* unused */
	SLOT_UNKNOWN,				/* start a worker to find out */
	SLOT_RUNNING,				/* a worker runs (or was just started) */
	SLOT_ABSENT					/* no extension: start nothing until woken */
} WorkerSlotState;

/* One database's worker, as shown by kinesis.workers */
typedef struct WorkerSlot
{
	Oid			dboid;
	WorkerSlotState state;
	int			pid;			/* of the running worker, or 0 */
	VirtualTransactionId wait_for;	/* transaction the next worker waits
									 * for (CREATE EXTENSION) */
	TimestampTz started_at;
	TimestampTz last_run;		/* end of the last maintenance pass */
	int			last_actions;	/* actions of that pass */
	TimestampTz last_error_at;
	char		last_error[256];
	TimestampTz hold_until;		/* do not start a worker before */
} WorkerSlot;

typedef struct LauncherShared
{
	LWLock	   *lock;
	int			launcher_pid;
	Latch	   *launcher_latch;
	WorkerSlot	slots[MAX_WORKER_SLOTS];
} LauncherShared;

static LauncherShared *launcher = NULL;

/* In the launcher: the handles of the workers it started, by slot */
static BackgroundWorkerHandle *handles[MAX_WORKER_SLOTS];

static ProcessUtility_hook_type prev_process_utility = NULL;

PGDLLEXPORT void KinesisLauncherMain(Datum arg);

PG_FUNCTION_INFO_V1(kinesis_launcher_wake);
PG_FUNCTION_INFO_V1(kinesis_workers);

static void launcher_process_utility(PlannedStmt *pstmt, const char *queryString,
									 bool readOnlyTree, ProcessUtilityContext context,
									 ParamListInfo params, QueryEnvironment *queryEnv,
									 DestReceiver *dest, QueryCompletion *qc);

Size
KinesisLauncherShmemSize(void)
{
	return MAXALIGN(sizeof(LauncherShared));
}

/*
 * Create or attach to the launcher's shared state; called by shmem.c's
 * startup hook with AddinShmemInitLock held.
 */
void
KinesisLauncherShmemInit(void)
{
	bool		found;

	launcher = ShmemInitStruct("kinesis launcher", sizeof(LauncherShared), &found);
	if (!found)
	{
		memset(launcher, 0, sizeof(LauncherShared));
		launcher->lock = &(GetNamedLWLockTranche("kinesis"))[KINESIS_LWLOCK_WORKERS].lock;
	}
}

/*
 * Register the launcher and the utility hook; called from _PG_init.
 */
void
KinesisLauncherInit(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "kinesis");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "KinesisLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "kinesis launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "kinesis launcher");
	RegisterBackgroundWorker(&worker);

	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = launcher_process_utility;
}

/*
 * The slot of a database, or NULL; with create, a free slot is taken for
 * it.  The caller holds the lock exclusively when create.
 */
static WorkerSlot *
slot_for(Oid dboid, bool create)
{
	WorkerSlot *free_slot = NULL;
	int			i;

	for (i = 0; i < MAX_WORKER_SLOTS; i++)
	{
		WorkerSlot *slot = &launcher->slots[i];

		if (slot->state != SLOT_FREE && slot->dboid == dboid)
			return slot;
		if (slot->state == SLOT_FREE && free_slot == NULL)
			free_slot = slot;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(WorkerSlot));
	free_slot->dboid = dboid;
	free_slot->state = SLOT_UNKNOWN;
	return free_slot;
}

static void
wake_launcher(void)
{
	if (launcher->launcher_latch)
		SetLatch(launcher->launcher_latch);
}

/*
 * Start a maintenance worker for a slot.  The caller holds the lock
 * exclusively.
 */
static void
start_worker(WorkerSlot *slot)
{
	int			index = slot - launcher->slots;
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "kinesis");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "KinesisWorkerMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "kinesis worker for database %u", slot->dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "kinesis worker");
	worker.bgw_main_arg = Int32GetDatum(index);
	worker.bgw_notify_pid = MyProcPid;
	memcpy(worker.bgw_extra, &slot->wait_for, sizeof(VirtualTransactionId));

	if (handles[index])
		pfree(handles[index]);
	handles[index] = NULL;
	if (!RegisterDynamicBackgroundWorker(&worker, &handles[index]))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a kinesis worker for database %u", slot->dboid),
				 errhint("Raise max_worker_processes.")));
		return;
	}
	slot->state = SLOT_RUNNING;
	slot->pid = 0;
	slot->started_at = GetCurrentTimestamp();
	SetInvalidVirtualTransactionId(slot->wait_for);
}

/*
 * Stop the worker of a slot (in the launcher).
 */
static void
stop_worker(WorkerSlot *slot)
{
	int			index = slot - launcher->slots;

	if (handles[index])
		TerminateBackgroundWorker(handles[index]);
}

/*
 * Whether the launcher's worker of a slot still runs.
 */
static bool
worker_alive(WorkerSlot *slot)
{
	int			index = slot - launcher->slots;
	pid_t		pid;

	return handles[index] != NULL &&
		GetBackgroundWorkerPid(handles[index], &pid) != BGWH_STOPPED;
}

/*
 * The databases a worker could connect to.
 */
static List *
connectable_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			result = lappend_oid(result, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

/*
 * One round of the launcher: bring the slots in line with the databases
 * and start the workers that are missing.
 */
static void
launcher_round(void)
{
	List	   *databases = kinesis_enable_workers ? connectable_databases() : NIL;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	int			i;

	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);

	/* free the slots of databases that are gone; stop all when disabled */
	for (i = 0; i < MAX_WORKER_SLOTS; i++)
	{
		WorkerSlot *slot = &launcher->slots[i];

		if (slot->state == SLOT_FREE)
			continue;
		if (!list_member_oid(databases, slot->dboid))
		{
			stop_worker(slot);
			if (!worker_alive(slot))
				slot->state = SLOT_FREE;
			else if (!kinesis_enable_workers)
				slot->state = SLOT_UNKNOWN;
		}
		else if (slot->state == SLOT_RUNNING && !worker_alive(slot))
		{
			/* failed: start another one after a pause */
			slot->state = SLOT_UNKNOWN;
			slot->pid = 0;
			slot->hold_until = TimestampTzPlusMilliseconds(now, HOLD_OFF_MS);
		}
	}

	foreach(lc, databases)
	{
		WorkerSlot *slot = slot_for(lfirst_oid(lc), true);

		if (slot == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("kinesis can maintain at most %d databases", MAX_WORKER_SLOTS)));
			break;
		}
		if (slot->state == SLOT_UNKNOWN && slot->hold_until <= now)
			start_worker(slot);
	}
	LWLockRelease(launcher->lock);
	list_free(databases);
}

/*
 * Entry point of the launcher.
 */
void
KinesisLauncherMain(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("kinesis launcher");

	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	launcher->launcher_pid = MyProcPid;
	launcher->launcher_latch = &MyProc->procLatch;
	/* workers of an earlier launcher are gone or will be stopped */
	{
		int			i;

		for (i = 0; i < MAX_WORKER_SLOTS; i++)
		{
			if (launcher->slots[i].state == SLOT_RUNNING)
				launcher->slots[i].state = SLOT_UNKNOWN;
		}
	}
	LWLockRelease(launcher->lock);

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launcher_round();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* stop the workers on the way out; they are restarted with us */
	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	{
		int			i;

		for (i = 0; i < MAX_WORKER_SLOTS; i++)
			stop_worker(&launcher->slots[i]);
	}
	launcher->launcher_latch = NULL;
	launcher->launcher_pid = 0;
	LWLockRelease(launcher->lock);
	proc_exit(0);
}

/*
 * In a worker: the slot it was started for.
 */
static WorkerSlot *
own_slot(int index)
{
	if (index < 0 || index >= MAX_WORKER_SLOTS)
		elog(ERROR, "invalid kinesis worker slot %d", index);
	return &launcher->slots[index];
}

/*
 * A worker reports that it started; returns the transaction to wait for.
 */
VirtualTransactionId
KinesisWorkerStarted(int index, Oid *dboid)
{
	WorkerSlot *slot = own_slot(index);
	VirtualTransactionId vxid;

	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	slot->pid = MyProcPid;
	*dboid = slot->dboid;
	LWLockRelease(launcher->lock);
	memcpy(&vxid, MyBgworkerEntry->bgw_extra, sizeof(vxid));
	return vxid;
}

/*
 * A worker reports a pass, or (with error) a failure.
 */
void
KinesisWorkerReport(int index, int actions, const char *error)
{
	WorkerSlot *slot = own_slot(index);

	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	if (error)
	{
		slot->last_error_at = GetCurrentTimestamp();
		strlcpy(slot->last_error, error, sizeof(slot->last_error));
	}
	else
	{
		slot->last_run = GetCurrentTimestamp();
		slot->last_actions = actions;
	}
	LWLockRelease(launcher->lock);
}

/*
 * A worker found no extension in its database and is about to exit.
 */
void
KinesisWorkerAbsent(int index)
{
	WorkerSlot *slot = own_slot(index);

	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	slot->state = SLOT_ABSENT;
	slot->pid = 0;
	LWLockRelease(launcher->lock);
}

/*
 * kinesis._launcher_wake(): called by CREATE EXTENSION.  Have the launcher
 * start a worker for this database, which waits for this transaction.
 */
Datum
kinesis_launcher_wake(PG_FUNCTION_ARGS)
{
	WorkerSlot *slot;

	kinesis_check_loaded();
	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	slot = slot_for(MyDatabaseId, true);
	if (slot && slot->state != SLOT_RUNNING)
	{
		slot->state = SLOT_UNKNOWN;
		slot->hold_until = 0;
		GET_VXID_FROM_PGPROC(slot->wait_for, *MyProc);
	}
	LWLockRelease(launcher->lock);
	wake_launcher();
	PG_RETURN_VOID();
}

/*
 * Stop the worker of a database (by name) that a command needs to itself
 * or whose extension it drops,
 * and keep it off for HOLD_OFF_MS; the launcher frees the slot once the
 * database is gone.
 */
static void
take_database(const char *dbname)
{
	Oid			dboid = dbname ? get_database_oid(dbname, true) : InvalidOid;
	WorkerSlot *slot;
	int			pid = 0;
	int			waited;

	if (!OidIsValid(dboid))
		return;
	LWLockAcquire(launcher->lock, LW_EXCLUSIVE);
	slot = slot_for(dboid, false);
	if (slot)
	{
		slot->hold_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_OFF_MS);
		if (slot->state == SLOT_RUNNING)
		{
			pid = slot->pid;
			slot->state = SLOT_UNKNOWN;
		}
	}
	LWLockRelease(launcher->lock);

	/* a worker exits at once on SIGTERM; wait up to 5 s for it */
	if (pid > 0 && kill(pid, SIGTERM) == 0)
	{
		for (waited = 0; waited < 5000 && kill(pid, 0) == 0; waited += 10)
			pg_usleep(10000);
	}
}

/*
 * The template database of a CREATE DATABASE, or NULL.
 */
static const char *
template_of(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "template") == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * Whether a DROP statement drops this extension.
 */
static bool
drops_kinesis(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "kinesis") == 0)
			return true;
	}
	return false;
}

/*
 * Utility hook: commands that need a database without other connections
 * first take it from its worker.
 */
static void
launcher_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (launcher != NULL)
	{
		switch (nodeTag(parsetree))
		{
			case T_DropdbStmt:
				take_database(((DropdbStmt *) parsetree)->dbname);
				break;
			case T_CreatedbStmt:
				take_database(template_of(((CreatedbStmt *) parsetree)->options));
				break;
			case T_DropStmt:
				if (drops_kinesis((DropStmt *) parsetree))
					take_database(get_database_name(MyDatabaseId));
				break;
			case T_AlterDatabaseStmt:
				take_database(((AlterDatabaseStmt *) parsetree)->dbname);
				break;
			case T_RenameStmt:
				if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
					take_database(strVal(((RenameStmt *) parsetree)->object));
				break;
			default:
				break;
		}
	}

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * kinesis._workers(): the launcher and the workers, for kinesis.workers.
 */
Datum
kinesis_workers(PG_FUNCTION_ARGS)
{
#define WORKERS_COLS 8
	static const char *const states[] = {"free", "waiting", "running", "no extension"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	kinesis_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(launcher->lock, LW_SHARED);
	for (i = -1; i < MAX_WORKER_SLOTS; i++)
	{
		Datum		values[WORKERS_COLS];
		bool		nulls[WORKERS_COLS];
		WorkerSlot *slot = i >= 0 ? &launcher->slots[i] : NULL;

		memset(nulls, true, sizeof(nulls));
		if (slot == NULL)
		{
			/* the launcher itself */
			values[0] = CStringGetTextDatum("launcher");
			nulls[0] = false;
			values[2] = Int32GetDatum(launcher->launcher_pid);
			nulls[2] = launcher->launcher_pid == 0;
			values[3] = CStringGetTextDatum(launcher->launcher_pid ? "running" : "stopped");
			nulls[3] = false;
		}
		else
		{
			if (slot->state == SLOT_FREE)
				continue;
			values[0] = CStringGetTextDatum("worker");
			values[1] = ObjectIdGetDatum(slot->dboid);
			values[2] = Int32GetDatum(slot->pid);
			values[3] = CStringGetTextDatum(slot->state == SLOT_RUNNING && slot->pid == 0 ?
											"starting" : states[slot->state]);
			values[4] = TimestampTzGetDatum(slot->started_at);
			values[5] = TimestampTzGetDatum(slot->last_run);
			values[6] = TimestampTzGetDatum(slot->last_error_at);
			values[7] = CStringGetTextDatum(slot->last_error);
			nulls[0] = nulls[1] = nulls[3] = false;
			nulls[2] = slot->pid == 0;
			nulls[4] = slot->started_at == 0;
			nulls[5] = slot->last_run == 0;
			nulls[6] = nulls[7] = slot->last_error_at == 0;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(launcher->lock);
	return (Datum) 0;
}
