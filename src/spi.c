/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  SPI helpers for the control plane and maintenance: statements run as
 *	  a chosen role with search_path pinned, and reading result columns.
 *
 * The data plane never uses these.  Some statements run as the extension
 * owner (catalog writes) or as a stream's owner (its tables' DDL), so the
 * caller's search_path must not resolve their functions and operators to
 * objects of the caller's choosing: between KinesisSpiBegin and
 * KinesisSpiEnd, search_path is "pg_catalog, pg_temp", and every name of
 * ours is schema-qualified.
 *
 * Processes: client backends and maintenance workers.  No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/resowner.h"
#include "access/xact.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "catalog/indexing.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "kinesis.h"

/*
 * Connect to SPI and pin search_path; returns the GUC nest level to pass
 * to KinesisSpiEnd.
 */
int
KinesisSpiBegin(void)
{
	int			nestlevel;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

/*
 * Undo KinesisSpiBegin.
 */
void
KinesisSpiEnd(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
	SPI_finish();
}

/*
 * The role that owns the extension, from pg_extension's name index (no
 * SQL: the application calls ask for it on every call).
 */
Oid
KinesisExtensionOwner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("kinesis"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "extension \"kinesis\" is not installed in this database");
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * Execute one statement, as role unless that is InvalidOid, and check the
 * result code.
 */
void
KinesisSpiExec(const char *sql, int nargs, Oid *types, Datum *values,
			   Oid role, int expected)
{
	KinesisSpiExecNulls(sql, nargs, types, values, NULL, role, expected);
}

/*
 * The same, with SPI's nulls argument ('n' for a NULL value).
 */
void
KinesisSpiExecNulls(const char *sql, int nargs, Oid *types, Datum *values,
					const char *nulls, Oid role, int expected)
{
	KinesisSpiExecPlan(NULL, sql, nargs, types, values, nulls, role, expected);
}

/*
 * The same, through the saved plan *plan when plan is not NULL: prepared
 * from sql and types on first use and kept for the backend's life (the
 * plan cache revalidates it when the tables change; search_path is always
 * the pinned one).  Used through KinesisSpiExecSaved, which keeps one
 * plan per call site, for the statements of every application call.
 */
void
KinesisSpiExecPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types, Datum *values,
				   const char *nulls, Oid role, int expected)
{
	Oid			save_userid = InvalidOid;
	int			save_sec = 0;
	int			ret;

	if (plan != NULL && *plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, types);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*plan = prepared;
	}
	if (OidIsValid(role))
	{
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	}
	if (plan != NULL)
		ret = SPI_execute_plan(*plan, values, nulls, false, 0);
	else
		ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (OidIsValid(role))
		SetUserIdAndSecContext(save_userid, save_sec);
	if (ret != expected)
		elog(ERROR, "kinesis statement failed: %s", SPI_result_code_string(ret));
}

/*
 * The owner of a relation.
 */
Oid
KinesisRelationOwner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Column col (1-based) of result row row as an integer; if_null when NULL.
 * Handles the integer types and timestamptz.
 */
int64
KinesisSpiInt(uint64 row, int col, int64 if_null)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	if (isnull)
		return if_null;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt64(d);
		case OIDOID:
			return DatumGetObjectId(d);
		case TIMESTAMPTZOID:
			return DatumGetTimestampTz(d);
		default:
			elog(ERROR, "unexpected type in kinesis catalog query");
	}
	return 0;
}

/*
 * Column col (1-based) of result row row as text, or NULL.
 */
char *
KinesisSpiText(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/*
 * Run fn(arg) in a subtransaction.  Returns true when it succeeded; when it
 * raised an error of SQLSTATE tolerated (any error but a cancel for
 * KINESIS_ANY_ERROR), rolls the subtransaction back, sets *message to the
 * error's message when message is not NULL, and returns false.  Other
 * errors propagate.
 */
bool
KinesisSubxactTry(void (*fn) (void *arg), void *arg, int tolerated, char **message)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (tolerated == KINESIS_ANY_ERROR ?
			edata->sqlerrcode == ERRCODE_QUERY_CANCELED :
			edata->sqlerrcode != tolerated)
			ReThrowError(edata);
		if (message)
			*message = pstrdup(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}
