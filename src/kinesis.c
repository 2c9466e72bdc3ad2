/*-------------------------------------------------------------------------
 *
 * kinesis.c
 *	  Entry point of the kinesis extension: Kinesis-style data streams
 *	  inside PostgreSQL.
 *
 * _PG_init only calls the init function of each module.  The library must
 * be in shared_preload_libraries, because the never-skip registry
 * (stable.c) lives in shared memory that is sized at postmaster start; a
 * backend that loads the library later registers nothing and every
 * SQL-callable function refuses to run (kinesis_check_loaded).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "kinesis.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* true when the library was loaded by shared_preload_libraries */
static bool kinesis_preloaded = false;

/*
 * Module load callback
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	kinesis_preloaded = true;
	KinesisGucInit();
	KinesisShmemInit();
	KinesisStableInit();
	KinesisLauncherInit();
	KinesisCatalogInit();
	KinesisIteratorInit();
}

/*
 * Refuse to run when the library was not preloaded.
 */
void
kinesis_check_loaded(void)
{
	if (!kinesis_preloaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kinesis must be loaded via shared_preload_libraries"),
				 errhint("Add kinesis to shared_preload_libraries in postgresql.conf and restart the server.")));
}
