/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The maintenance worker of one database: runs a maintenance pass
 *	  (maintenance.c) every kinesis.maintenance_interval.
 *
 * Started by the launcher (launcher.c) with its slot index as argument.
 * When started because of CREATE EXTENSION it first waits for that
 * transaction to end.  Each pass checks that the extension exists; when it
 * does not (never created, or dropped), the worker marks its slot and
 * exits with status 0, so that it is not restarted until the launcher is
 * woken again.  SIGTERM ends it at once (die); SIGHUP reloads the
 * configuration.  An error is recorded in the slot (kinesis.workers) and
 * ends the worker with status 1; the launcher starts a new one after a
 * pause.
 *
 * Processes: one per database with the extension.  Locks: those of a
 * maintenance pass, in short transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "kinesis.h"

PGDLLEXPORT void KinesisWorkerMain(Datum arg);

/*
 * One pass in its own transaction.  Returns false when the extension is
 * not installed in this database.
 */
static bool
worker_pass(int index)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		present;
	volatile int actions = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "kinesis maintenance");

	present = OidIsValid(get_extension_oid("kinesis", true));
	PG_TRY();
	{
		if (present)
			actions = KinesisMaintenance();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		KinesisWorkerReport(index, 0, edata->message);
		PG_RE_THROW();
	}
	PG_END_TRY();

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	if (present)
		KinesisWorkerReport(index, actions, NULL);
	return present;
}

/*
 * Entry point of a database's maintenance worker.
 */
void
KinesisWorkerMain(Datum arg)
{
	int			index = DatumGetInt32(arg);
	Oid			dboid;
	VirtualTransactionId wait_for;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	wait_for = KinesisWorkerStarted(index, &dboid);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("kinesis worker");

	/* started by CREATE EXTENSION: let it commit or abort first */
	if (VirtualTransactionIdIsValid(wait_for))
		(void) VirtualXactLock(wait_for, true);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!worker_pass(index))
		{
			KinesisWorkerAbsent(index);
			proc_exit(0);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 kinesis_maintenance_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
