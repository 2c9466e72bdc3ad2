/*-------------------------------------------------------------------------
 *
 * seqno.c
 *	  Sequence numbers in the AWS layout (spec/kinesis-api.md 3.3).
 *
 * Records store only the per-shard 64-bit counter and their arrival time;
 * the 56-digit number users see is a function of (shard creation second,
 * shard index, counter, arrival second), built on output and decoded on
 * input.  As 47 hexadecimal digits, from the most significant:
 *
 *	 2 | create secs (9) | index nibble (1) | counter (16) | 00 | write secs (9)
 *	   | shard index (8) | 2
 *
 * Within a shard the number grows with the counter, and a child shard,
 * created after its parents closed, has a larger creation second, so all
 * its numbers exceed the parents'.  Pure functions, no shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "kinesis.h"

/* Bit positions of the fields, counted from the least significant bit */
#define SEQ_VERSION_POS		0
#define SEQ_INDEX_POS		4
#define SEQ_WRITE_POS		36
#define SEQ_UNKNOWN_POS		72
#define SEQ_COUNTER_POS		80
#define SEQ_NIBBLE_POS		144
#define SEQ_CREATE_POS		148
#define SEQ_LEAD_POS		184
#define SEQ_BITS			188

/* Seconds between the Unix epoch and the PostgreSQL epoch */
#define UNIX_TO_PG_SECS		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/* 10^19, the largest power of ten in 64 bits */
#define DEC_CHUNK			UINT64CONST(10000000000000000000)

/* 10^16: four base-10000 digits of numeric */
#define NBASE_CHUNK			UINT64CONST(10000000000000000)

/*
 * The on-disk format of a short numeric (PostgreSQL's numeric.c): a
 * varlena header, a 16-bit header with the short-format flag, sign, display
 * scale and weight, then base-10000 digits without leading or trailing
 * zeros.  Building it directly costs a tenth of numeric_in on a 56-digit
 * text, which mattered on the read path (one per record).
 */
#define NUMERIC_SHORT_FLAG			0x8000
#define NUMERIC_SHORT_WEIGHT_MASK	0x003F
#define NUMERIC_NBASE				10000

/* A 192-bit unsigned integer, least significant word first */
typedef struct Wide
{
	uint64		w[3];
} Wide;

/*
 * Store the low width bits of value at bit position pos.
 */
static void
wide_set(Wide *x, int pos, int width, uint64 value)
{
	int			word = pos / 64;
	int			off = pos % 64;

	if (width < 64)
		value &= (UINT64CONST(1) << width) - 1;
	x->w[word] |= value << off;
	if (off > 0 && off + width > 64)
		x->w[word + 1] |= value >> (64 - off);
}

/*
 * The width bits at bit position pos.
 */
static uint64
wide_get(const Wide *x, int pos, int width)
{
	int			word = pos / 64;
	int			off = pos % 64;
	uint64		value = x->w[word] >> off;

	if (off > 0 && off + width > 64)
		value |= x->w[word + 1] << (64 - off);
	if (width < 64)
		value &= (UINT64CONST(1) << width) - 1;
	return value;
}

/*
 * (hi * 2^64 + lo) / d and its remainder, for hi < d, so that the quotient
 * fits in 64 bits.  On x86-64 one divq instruction; compilers otherwise call
 * a generic 128-bit division routine, which was a visible share of the
 * read path.
 */
static inline uint64
divide_128_by_64(uint64 hi, uint64 lo, uint64 d, uint64 *rem)
{
#if defined(__x86_64__) && defined(__GNUC__)
	uint64		q;

	__asm__("divq %4" : "=a"(q), "=d"(*rem) : "a"(lo), "d"(hi), "rm"(d));
	return q;
#else
	uint128		n = ((uint128) hi << 64) | lo;

	*rem = (uint64) (n % d);
	return (uint64) (n / d);
#endif
}

/*
 * Divide x by d in place; returns the remainder.
 */
static uint64
wide_divide(Wide *x, uint64 d)
{
	uint64		rem = 0;
	int			i;

	for (i = 2; i >= 0; i--)
	{
		if (rem == 0 && x->w[i] < d)
		{
			rem = x->w[i];		/* leading word: quotient 0 */
			x->w[i] = 0;
			continue;
		}
		x->w[i] = divide_128_by_64(rem, x->w[i], d, &rem);
	}
	return rem;
}

/*
 * The base-10000 digits of x, least significant first; returns how many
 * (0 for zero).
 */
static int
wide_to_digits(Wide x, int16 *digits)
{
	int			ndigits = 0;
	int			i;

	while (x.w[0] != 0 || x.w[1] != 0 || x.w[2] != 0)
	{
		uint64		chunk = wide_divide(&x, NBASE_CHUNK);

		for (i = 0; i < 4; i++)
		{
			digits[ndigits++] = (int16) (chunk % NUMERIC_NBASE);
			chunk /= NUMERIC_NBASE;
		}
	}
	while (ndigits > 0 && digits[ndigits - 1] == 0)
		ndigits--;
	return ndigits;
}

/*
 * numeric value of a non-negative integer given by its base-10000 digits,
 * least significant first, built in the short numeric format (see
 * NUMERIC_SHORT_FLAG) in *buf, or palloc'd when buf is NULL.
 */
static Datum
digits_to_numeric(const int16 *digits, int ndigits, KinesisNumericBuf *buf)
{
	int			low = 0;
	int			n;
	int			i;
	Size		len;
	char	   *result;
	uint16		header;

	while (low < ndigits && digits[low] == 0)
		low++;					/* trailing zeros are not stored */
	n = ndigits - low;

	/* weight = ndigits - 1, at most 15 here; zero has weight 0 */
	header = NUMERIC_SHORT_FLAG | ((n > 0 ? ndigits - 1 : 0) & NUMERIC_SHORT_WEIGHT_MASK);
	len = VARHDRSZ + sizeof(uint16) + n * sizeof(int16);
	Assert(len <= sizeof(KinesisNumericBuf));
	result = buf ? buf->data : palloc(len);
	SET_VARSIZE(result, len);
	memcpy(result + VARHDRSZ, &header, sizeof(uint16));
	for (i = 0; i < n; i++)
		memcpy(result + VARHDRSZ + sizeof(uint16) + i * sizeof(int16),
			   &digits[ndigits - 1 - i], sizeof(int16));
	return PointerGetDatum(result);
}

static Datum
wide_to_numeric(Wide x, KinesisNumericBuf *buf)
{
	int16		digits[16];
	int			ndigits = wide_to_digits(x, digits);

	return digits_to_numeric(digits, ndigits, buf);
}

/*
 * numeric value of an unsigned 128-bit integer.
 */
Datum
KinesisUint128ToNumeric(uint128 value)
{
	Wide		x;

	x.w[0] = (uint64) value;
	x.w[1] = (uint64) (value >> 64);
	x.w[2] = 0;
	return wide_to_numeric(x, NULL);
}

static int64
timestamp_to_unix_secs(TimestampTz ts)
{
	return ts / USECS_PER_SEC + UNIX_TO_PG_SECS;
}

/*
 * Assemble the 188-bit number of a decoded sequence number.
 */
static void
seqno_pack(const KinesisSeqNo *seq, Wide *x)
{
	memset(x, 0, sizeof(Wide));
	wide_set(x, SEQ_VERSION_POS, 4, 2);
	wide_set(x, SEQ_INDEX_POS, 32, (uint32) seq->shard_index);
	wide_set(x, SEQ_WRITE_POS, 36, (uint64) seq->write_secs);
	wide_set(x, SEQ_COUNTER_POS, 64, (uint64) seq->counter);
	wide_set(x, SEQ_NIBBLE_POS, 4, (uint64) seq->shard_index & 0xf);
	wide_set(x, SEQ_CREATE_POS, 36, (uint64) seq->create_secs);
	wide_set(x, SEQ_LEAD_POS, 4, 2);
}

/*
 * Decimal text of a sequence number, written into buf (at least 64 bytes).
 */
static char *
seqno_format(const KinesisSeqNo *seq, char *buf, int buflen)
{
	Wide		x;
	uint64		chunks[3];
	char	   *p = buf + buflen - 1;
	int			c;

	seqno_pack(seq, &x);

	/* three divisions by 10^19 give the 19-digit chunks, lowest first */
	for (c = 0; c < 3; c++)
		chunks[c] = wide_divide(&x, DEC_CHUNK);

	*p = '\0';
	for (c = 0; c < 3; c++)
	{
		uint64		v = chunks[c];
		int			d;

		for (d = 0; d < 19; d++)
		{
			*--p = '0' + (int) (v % 10);
			v /= 10;
			if (c == 2 && v == 0)
				break;
		}
	}
	return p;
}

/*
 * Decimal text of a sequence number, palloc'd.
 */
char *
KinesisSeqNoToString(const KinesisSeqNo *seq)
{
	char		buf[64];

	return pstrdup(seqno_format(seq, buf, sizeof(buf)));
}

/*
 * numeric value of a sequence number
 */
Datum
KinesisSeqNoToNumeric(const KinesisSeqNo *seq, KinesisNumericBuf *buf)
{
	Wide		x;
	Datum		result;

	seqno_pack(seq, &x);
	result = wide_to_numeric(x, buf);
#ifdef USE_ASSERT_CHECKING
	{
		char		buf[64];
		Datum		check = DirectFunctionCall3(numeric_in,
												CStringGetDatum(seqno_format(seq, buf, sizeof(buf))),
												ObjectIdGetDatum(InvalidOid),
												Int32GetDatum(-1));

		Assert(VARSIZE(DatumGetPointer(check)) == VARSIZE(DatumGetPointer(result)) &&
			   memcmp(DatumGetPointer(check), DatumGetPointer(result),
					  VARSIZE(DatumGetPointer(result))) == 0);
	}
#endif
	return result;
}

/*
 * Decode a numeric sequence number.  Returns false unless it is a
 * well-formed number of the current AWS format: an integer of at most 129
 * digits whose fields are consistent and whose counter has its top bit
 * clear.
 */
bool
KinesisSeqNoFromNumeric(Datum num, KinesisSeqNo *seq)
{
	char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, num));
	Wide		x;
	const char *p;
	int			i;

	memset(&x, 0, sizeof(x));
	if (str[0] == '\0' || strlen(str) > 129)
		return false;
	for (p = str; *p; p++)
	{
		uint64		digit = (uint64) (*p - '0');
		uint128		carry;

		if (*p < '0' || *p > '9')
			return false;
		carry = digit;
		for (i = 0; i < 3; i++)
		{
			uint128		cur = (uint128) x.w[i] * 10 + carry;

			x.w[i] = (uint64) cur;
			carry = cur >> 64;
		}
		if (carry != 0)
			return false;
	}

	/* nothing above the leading 2, consistent constant fields */
	if ((x.w[2] >> (SEQ_BITS - 128)) != 0 ||
		wide_get(&x, SEQ_LEAD_POS, 4) != 2 ||
		wide_get(&x, SEQ_VERSION_POS, 4) != 2 ||
		wide_get(&x, SEQ_UNKNOWN_POS, 8) != 0 ||
		wide_get(&x, SEQ_NIBBLE_POS, 4) != (wide_get(&x, SEQ_INDEX_POS, 32) & 0xf) ||
		wide_get(&x, SEQ_COUNTER_POS, 64) > (uint64) KINESIS_MAX_COUNTER)
		return false;

	seq->shard_index = (int32) (uint32) wide_get(&x, SEQ_INDEX_POS, 32);
	seq->write_secs = (int64) wide_get(&x, SEQ_WRITE_POS, 36);
	seq->counter = (int64) wide_get(&x, SEQ_COUNTER_POS, 64);
	seq->create_secs = (int64) wide_get(&x, SEQ_CREATE_POS, 36);
	return true;
}

/*
 * The StartingSequenceNumber of a shard: counter 0, written at creation.
 */
Datum
KinesisShardStartingSeqNo(const KinesisShard *shard)
{
	KinesisSeqNo seq;

	seq.create_secs = shard->create_secs;
	seq.shard_index = shard->shard_index;
	seq.counter = 0;
	seq.write_secs = shard->create_secs;
	return KinesisSeqNoToNumeric(&seq, NULL);
}

/*
 * The EndingSequenceNumber of a closed shard: the largest counter, written
 * at closing.
 */
Datum
KinesisShardEndingSeqNo(const KinesisShard *shard)
{
	KinesisSeqNo seq;

	Assert(shard->close_secs >= 0);
	seq.create_secs = shard->create_secs;
	seq.shard_index = shard->shard_index;
	seq.counter = KINESIS_MAX_COUNTER;
	seq.write_secs = shard->close_secs;
	return KinesisSeqNoToNumeric(&seq, NULL);
}

/* 2^80, the weight of the counter field, in base-10000 digits */
static const int16 counter_unit[] = {6176, 7470, 6291, 9614, 2581, 2089, 1};

#define COUNTER_UNIT_DIGITS ((int) lengthof(counter_unit))

/*
 * Prepare to encode the sequence numbers of a shard's records in
 * ascending counter order.
 */
void
KinesisSeqNoEncoderInit(KinesisSeqNoEncoder *enc, const KinesisShard *shard)
{
	enc->shard = shard;
	enc->counter = -1;
	enc->write_secs = -1;
	enc->ndigits = 0;
}

/*
 * The sequence number of the next record of a scan, built in *buf.  When
 * the record arrived in the same second as the previous one, its number is
 * the previous one plus (counter difference) * 2^80, added digit by digit
 * in base 10000; only a new second costs a full conversion.
 */
Datum
KinesisSeqNoEncode(KinesisSeqNoEncoder *enc, int64 counter, TimestampTz arrival,
				   KinesisNumericBuf *buf)
{
	int64		write_secs = timestamp_to_unix_secs(arrival);
	int64		delta = counter - enc->counter;

	if (write_secs == enc->write_secs && delta > 0 && delta < PG_INT32_MAX)
	{
		int64		carry = 0;
		int			i;

		for (i = 0; i < 16 && (i < COUNTER_UNIT_DIGITS || carry != 0); i++)
		{
			int64		v = carry + (i < enc->ndigits ? enc->digits[i] : 0);

			if (i < COUNTER_UNIT_DIGITS)
				v += delta * counter_unit[i];
			enc->digits[i] = (int16) (v % NUMERIC_NBASE);
			carry = v / NUMERIC_NBASE;
		}
		enc->ndigits = Max(enc->ndigits, i);
	}
	else
	{
		KinesisSeqNo seq;
		Wide		x;

		seq.create_secs = enc->shard->create_secs;
		seq.shard_index = enc->shard->shard_index;
		seq.counter = counter;
		seq.write_secs = write_secs;
		seqno_pack(&seq, &x);
		enc->ndigits = wide_to_digits(x, enc->digits);
		enc->write_secs = write_secs;
	}
	enc->counter = counter;
#ifdef USE_ASSERT_CHECKING
	{
		KinesisSeqNo seq;
		Wide		x;
		int16		check[16];

		seq.create_secs = enc->shard->create_secs;
		seq.shard_index = enc->shard->shard_index;
		seq.counter = counter;
		seq.write_secs = write_secs;
		seqno_pack(&seq, &x);
		Assert(wide_to_digits(x, check) == enc->ndigits &&
			   memcmp(check, enc->digits, enc->ndigits * sizeof(int16)) == 0);
	}
#endif
	return digits_to_numeric(enc->digits, enc->ndigits, buf);
}

/*
 * The sequence number of a stored record, built in *buf (palloc'd when
 * buf is NULL).
 */
Datum
KinesisRecordSeqNo(const KinesisShard *shard, int64 counter,
				   TimestampTz arrival, KinesisNumericBuf *buf)
{
	KinesisSeqNo seq;

	seq.create_secs = shard->create_secs;
	seq.shard_index = shard->shard_index;
	seq.counter = counter;
	seq.write_secs = timestamp_to_unix_secs(arrival);
	return KinesisSeqNoToNumeric(&seq, buf);
}

PG_FUNCTION_INFO_V1(kinesis_sequence_number_timestamp);

/*
 * The arrival second a sequence number carries; KN003 for a number that is
 * not in the AWS layout.
 */
TimestampTz
KinesisSeqNoTime(Datum seqnum)
{
	KinesisSeqNo seq;

	if (!KinesisSeqNoFromNumeric(seqnum, &seq))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("invalid sequence number %s",
						DatumGetCString(DirectFunctionCall1(numeric_out, seqnum)))));
	return (TimestampTz) (seq.write_secs - UNIX_TO_PG_SECS) * USECS_PER_SEC;
}

/*
 * kinesis.sequence_number_timestamp(sequence_number) RETURNS timestamptz
 */
Datum
kinesis_sequence_number_timestamp(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(KinesisSeqNoTime(PG_GETARG_DATUM(0)));
}
