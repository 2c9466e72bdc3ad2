/*-------------------------------------------------------------------------
 *
 * iterator.c
 *	  Shard iterators: opaque, tamper-evident, expiring positions in a
 *	  shard.
 *
 * An iterator is the base64 text of
 *
 *	 version (1) | name length (1) | stream name | stream id (8)
 *	 | stream creation time (8) | shard index (4) | position (8)
 *	 | issue time (8) | HMAC-SHA256 of all that, truncated to 16 bytes
 *
 * with integers big-endian.  The position is a counter: the iterator
 * returns records with larger counters.  The MAC key is a random secret
 * per database, stored in kinesis.iterator_secret when the extension is
 * created; ordinary roles cannot read that table, so they cannot forge
 * iterators.  The stream id and creation time make an iterator fail once
 * its stream is deleted, even if a stream of the same name exists again.
 * Iterators expire 5 minutes after issue.
 *
 * Processes: client backends.  The secret is cached per backend and
 * reloaded when the secret table is a different relation (the extension
 * was re-created).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "kinesis.h"

#define ITERATOR_VERSION	1
#define ITERATOR_SECRET_LEN 32
#define ITERATOR_MAC_LEN	16
#define ITERATOR_FIXED_LEN	(2 + 8 + 8 + 4 + 8 + 8)
#define ITERATOR_MAX_BYTES	(ITERATOR_FIXED_LEN + KINESIS_MAX_NAME_LEN + ITERATOR_MAC_LEN)

PG_FUNCTION_INFO_V1(kinesis_random_secret);

/* The cached secret and the relation it was read from */
static Oid	secret_relid = InvalidOid;
static uint8 secret[ITERATOR_SECRET_LEN];

void
KinesisIteratorInit(void)
{
	StaticAssertStmt(ITERATOR_MAX_BYTES * 4 / 3 + 4 <= KINESIS_MAX_ITERATOR_LEN,
					 "shard iterators must fit in 512 characters");
}

/*
 * kinesis._random_secret(): 32 random bytes, for the extension script.
 */
Datum
kinesis_random_secret(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + ITERATOR_SECRET_LEN);

	SET_VARSIZE(result, VARHDRSZ + ITERATOR_SECRET_LEN);
	if (!pg_strong_random(VARDATA(result), ITERATOR_SECRET_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	PG_RETURN_BYTEA_P(result);
}

/*
 * Load the secret into the cache unless it is current.  Reads the table
 * directly, bypassing its privileges, which deny ordinary roles.
 */
static void
load_secret(void)
{
	Oid			relid = get_relname_relid("iterator_secret",
										  get_namespace_oid(KINESIS_SCHEMA, false));
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	bool		found = false;

	if (relid == secret_relid && OidIsValid(relid))
		return;
	if (!OidIsValid(relid))
		elog(ERROR, "table kinesis.iterator_secret is missing");

	rel = table_open(relid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snapshot, 0, NULL);
	slot = table_slot_create(rel, NULL);
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		bytea	   *value = DatumGetByteaPP(slot_getattr(slot, 1, &isnull));

		if (!isnull && VARSIZE_ANY_EXHDR(value) == ITERATOR_SECRET_LEN)
		{
			memcpy(secret, VARDATA_ANY(value), ITERATOR_SECRET_LEN);
			found = true;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);

	if (!found)
		elog(ERROR, "table kinesis.iterator_secret holds no valid secret");
	secret_relid = relid;
}

/*
 * HMAC-SHA256 of len bytes, truncated to ITERATOR_MAC_LEN bytes.
 */
static void
iterator_mac(const uint8 *data, size_t len, uint8 *mac)
{
	pg_hmac_ctx *ctx;
	uint8		full[PG_SHA256_DIGEST_LENGTH];

	load_secret();
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, ITERATOR_SECRET_LEN) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, full, sizeof(full)) < 0)
		elog(ERROR, "could not compute shard iterator MAC: %s",
			 ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
	memcpy(mac, full, ITERATOR_MAC_LEN);
}

static uint8 *
put_be(uint8 *p, uint64 value, int nbytes)
{
	int			i;

	for (i = nbytes - 1; i >= 0; i--)
	{
		p[i] = (uint8) value;
		value >>= 8;
	}
	return p + nbytes;
}

static const uint8 *
get_be(const uint8 *p, int nbytes, uint64 *value)
{
	int			i;

	*value = 0;
	for (i = 0; i < nbytes; i++)
		*value = (*value << 8) | p[i];
	return p + nbytes;
}

/*
 * A new iterator positioned after after_counter in shard.
 */
text *
KinesisIteratorEncode(KinesisStream *stream, KinesisShard *shard,
					  int64 after_counter)
{
	uint8		buf[ITERATOR_MAX_BYTES];
	uint8	   *p = buf;
	int			namelen = strlen(stream->name);
	int			enclen;
	text	   *result;

	*p++ = ITERATOR_VERSION;
	*p++ = (uint8) namelen;
	memcpy(p, stream->name, namelen);
	p += namelen;
	p = put_be(p, (uint64) stream->stream_id, 8);
	p = put_be(p, (uint64) stream->created_at, 8);
	p = put_be(p, (uint32) shard->shard_index, 4);
	p = put_be(p, (uint64) after_counter, 8);
	p = put_be(p, (uint64) KinesisNow(), 8);
	iterator_mac(buf, p - buf, p);
	p += ITERATOR_MAC_LEN;

	result = palloc(VARHDRSZ + pg_b64_enc_len(p - buf) + 1);
	enclen = pg_b64_encode((const char *) buf, p - buf, VARDATA(result),
						   pg_b64_enc_len(p - buf) + 1);
	if (enclen < 0)
		elog(ERROR, "could not encode shard iterator");
	SET_VARSIZE(result, VARHDRSZ + enclen);
	return result;
}

static void
invalid_iterator(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
			 errmsg("invalid shard iterator")));
}

/*
 * Decode and verify an iterator: KN008 for a wrong length, KN003 when it
 * is not one of ours or was altered, KN006 when it expired.
 */
void
KinesisIteratorDecode(text *iterator, KinesisIterator *it)
{
	int			len = VARSIZE_ANY_EXHDR(iterator);
	uint8		buf[ITERATOR_MAX_BYTES + 4];
	uint8		mac[ITERATOR_MAC_LEN];
	const uint8 *p = buf;
	int			declen;
	int			namelen;
	uint64		v;

	if (len < 1 || len > KINESIS_MAX_ITERATOR_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("shard iterator must have 1 to %d characters",
						KINESIS_MAX_ITERATOR_LEN)));
	if (pg_b64_dec_len(len) > (int) sizeof(buf))
		invalid_iterator();
	declen = pg_b64_decode(VARDATA_ANY(iterator), len, (char *) buf, sizeof(buf));
	if (declen < ITERATOR_FIXED_LEN + ITERATOR_MAC_LEN + 1 || buf[0] != ITERATOR_VERSION)
		invalid_iterator();
	namelen = buf[1];
	if (namelen < 1 || namelen > KINESIS_MAX_NAME_LEN ||
		declen != ITERATOR_FIXED_LEN + namelen + ITERATOR_MAC_LEN)
		invalid_iterator();

	iterator_mac(buf, declen - ITERATOR_MAC_LEN, mac);
	if (timingsafe_bcmp(mac, buf + declen - ITERATOR_MAC_LEN, ITERATOR_MAC_LEN) != 0)
		invalid_iterator();

	p += 2;
	memcpy(it->stream_name, p, namelen);
	it->stream_name[namelen] = '\0';
	p += namelen;
	p = get_be(p, 8, &v);
	it->stream_id = (int64) v;
	p = get_be(p, 8, &v);
	it->stream_created_at = (TimestampTz) v;
	p = get_be(p, 4, &v);
	it->shard_index = (int32) (uint32) v;
	p = get_be(p, 8, &v);
	it->after_counter = (int64) v;
	p = get_be(p, 8, &v);
	it->issued_at = (TimestampTz) v;

	if (KinesisNow() - it->issued_at > (TimestampTz) KINESIS_ITERATOR_LIFETIME_MS * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_EXPIRED_ITERATOR),
				 errmsg("shard iterator expired"),
				 errdetail("The iterator was issued at %s, more than %d milliseconds ago.",
						   timestamptz_to_str(it->issued_at),
						   KINESIS_ITERATOR_LIFETIME_MS),
				 errhint("Get a new iterator with kinesis.get_shard_iterator.")));
}
