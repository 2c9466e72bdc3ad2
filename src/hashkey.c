/*-------------------------------------------------------------------------
 *
 * hashkey.c
 *	  Hash keys: MD5 of partition keys, unsigned 128-bit arithmetic,
 *	  conversion to and from numeric, and the initial shard ranges.
 *
 * Routing follows API.md: the MD5 digest of the partition key's UTF-8
 * bytes read as an unsigned big-endian 128-bit integer, or an explicit
 * hash key.  MD5 is computed here rather than through the cryptohash API
 * because that API allocates a context per call, which showed up on the
 * put_records path (500 digests per call).  Pure functions, no shared
 * state, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/numeric.h"

#include "kinesis.h"

/* Per-round additive constants of MD5 (RFC 1321, section 3.4) */
static const uint32 md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
	0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
	0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
	0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
	0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
	0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
	0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
	0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
};

/* Per-round rotation amounts of MD5 */
static const uint8 md5_s[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21
};

/*
 * Process one 64-byte block into the state h[4].
 */
static void
md5_block(uint32 h[4], const uint8 *block)
{
	uint32		m[16];
	uint32		a = h[0],
				b = h[1],
				c = h[2],
				d = h[3];
	int			i;

	for (i = 0; i < 16; i++)
		m[i] = (uint32) block[i * 4] |
			((uint32) block[i * 4 + 1] << 8) |
			((uint32) block[i * 4 + 2] << 16) |
			((uint32) block[i * 4 + 3] << 24);

	for (i = 0; i < 64; i++)
	{
		uint32		f;
		int			g;
		uint32		tmp;

		if (i < 16)
		{
			f = (b & c) | (~b & d);
			g = i;
		}
		else if (i < 32)
		{
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		}
		else if (i < 48)
		{
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		}
		else
		{
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		tmp = d;
		d = c;
		c = b;
		f = f + a + md5_k[i] + m[g];
		b = b + ((f << md5_s[i]) | (f >> (32 - md5_s[i])));
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

/*
 * MD5 digest of len bytes.
 */
void
KinesisMd5(const void *data, size_t len, uint8 digest[16])
{
	uint32		h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
	const uint8 *p = data;
	size_t		left = len;
	uint8		tail[128];
	size_t		tail_len;
	uint64		bits = (uint64) len * 8;
	int			i;

	for (; left >= 64; p += 64, left -= 64)
		md5_block(h, p);

	/* Pad: 0x80, zeros, then the bit length little-endian, to 56 mod 64 */
	memcpy(tail, p, left);
	tail[left] = 0x80;
	tail_len = (left < 56) ? 64 : 128;
	memset(tail + left + 1, 0, tail_len - left - 1);
	for (i = 0; i < 8; i++)
		tail[tail_len - 8 + i] = (uint8) (bits >> (8 * i));
	md5_block(h, tail);
	if (tail_len == 128)
		md5_block(h, tail + 64);

	for (i = 0; i < 16; i++)
		digest[i] = (uint8) (h[i / 4] >> (8 * (i % 4)));
}

/*
 * Hash key of a partition key: its MD5 digest as a big-endian integer.
 */
KinesisHashKey
KinesisPartitionKeyHash(const char *key, int len)
{
	uint8		digest[16];
	KinesisHashKey result = 0;
	int			i;

	KinesisMd5(key, len, digest);
	for (i = 0; i < 16; i++)
		result = (result << 8) | digest[i];
	return result;
}

/*
 * Parse a canonical unsigned decimal (digits only, no leading zeros) into a
 * hash key.  Returns false when the text is not such a number or when the
 * value exceeds 2^128 - 1.
 */
bool
KinesisHashKeyParse(const char *str, KinesisHashKey *result)
{
	KinesisHashKey value = 0;
	const char *p;

	if (str[0] == '\0' || (str[0] == '0' && str[1] != '\0'))
		return false;
	for (p = str; *p; p++)
	{
		int			digit = *p - '0';

		if (digit < 0 || digit > 9)
			return false;
		if (value > (KINESIS_HASH_KEY_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	*result = value;
	return true;
}

/*
 * Canonical decimal text of a hash key.
 */
char *
KinesisHashKeyToString(KinesisHashKey key)
{
	char		buf[48];
	char	   *p = buf + sizeof(buf) - 1;

	*p = '\0';
	do
	{
		*--p = '0' + (int) (key % 10);
		key /= 10;
	} while (key != 0);
	return pstrdup(p);
}

/*
 * numeric value of a hash key
 */
Datum
KinesisHashKeyToNumeric(KinesisHashKey key)
{
	return KinesisUint128ToNumeric(key);
}

/*
 * Hash key from a numeric argument.  Values that are not integers in
 * canonical form fail the syntactic constraint (KN008); integers of at
 * most 39 digits that exceed 2^128-1 are out of range (KN003), as in
 * Kinesis.  entry > 0 names the put_records entry in the error context.
 */
KinesisHashKey
KinesisHashKeyFromNumeric(Datum num, const char *what, int entry)
{
	char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, num));
	KinesisHashKey key;
	const char *p;
	int			ndigits = 0;
	bool		digits_only = (str[0] != '\0');

	for (p = str; *p; p++, ndigits++)
	{
		if (*p < '0' || *p > '9')
			digits_only = false;
	}

	if (!digits_only || ndigits > 39 || (str[0] == '0' && str[1] != '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_VALIDATION),
				 errmsg("invalid %s \"%s\"", what, str),
				 errdetail("A hash key is an integer between 0 and 2^128-1."),
				 entry > 0 ? errcontext("record %d of the request", entry) : 0));

	if (!KinesisHashKeyParse(str, &key))
		ereport(ERROR,
				(errcode(ERRCODE_KINESIS_INVALID_ARGUMENT),
				 errmsg("%s %s is out of range", what, str),
				 errdetail("A hash key must be in the range [0, 2^128-1]."),
				 entry > 0 ? errcontext("record %d of the request", entry) : 0));
	return key;
}

/*
 * Hash key range of shard index out of count initial shards (API.md):
 * h = floor(2^128 / count), shard i gets [i*h, (i+1)*h - 1], and the last
 * shard ends at 2^128 - 1.
 */
void
KinesisInitialRange(int index, int count,
					KinesisHashKey *start, KinesisHashKey *end)
{
	KinesisHashKey n = (KinesisHashKey) count;
	KinesisHashKey h;

	/*
	 * floor(2^128 / n) computed without 2^128: (2^128-1)/n, plus one when n
	 * divides 2^128.  For n = 1 this wraps to 0, which is harmless: the only
	 * shard is also the last one.
	 */
	h = KINESIS_HASH_KEY_MAX / n;
	if (KINESIS_HASH_KEY_MAX % n == n - 1)
		h++;

	*start = (KinesisHashKey) index * h;
	if (index == count - 1)
		*end = KINESIS_HASH_KEY_MAX;
	else
		*end = (KinesisHashKey) (index + 1) * h - 1;
}
