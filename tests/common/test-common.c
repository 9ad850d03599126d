/*
 * test-common.c - unit tests for common/ (byte strings, errors, sanitizer).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "tests/harness.h"

#include <errno.h>
#include <lmdb.h>

TJ_TEST(buf_append_and_nul)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_append(&b, "ab\0c", 4));
	TJ_ASSERT_INT(b.len, ==, 4);
	TJ_ASSERT_INT(b.data[4], ==, 0);
	TJ_OKRC(tj_buf_printf(&b, "%d-%s", 42, "x"));
	TJ_ASSERT_MEM(b.data, b.len, "ab\0c42-x", 8);
	tj_buf_truncate(&b, 2);
	TJ_ASSERT_STR((char *)b.data, "ab");
	tj_buf_free(&b);
	TJ_ASSERT(b.data == NULL);
}

TJ_TEST(buf_json_str_escapes)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_json_str(&b, "a\"b\\c\nd\x01", 8));
	TJ_ASSERT_STR((const char *)b.data, "\"a\\\"b\\\\c\\u000ad\\u0001\"");
	tj_buf_reset(&b);
	TJ_OKRC(tj_buf_json_str(&b, "Entw\xc3\xbcrfe", 9)); /* UTF-8 passes through */
	TJ_ASSERT_STR((const char *)b.data, "\"Entw\xc3\xbcrfe\"");
	tj_buf_free(&b);
}

TJ_TEST(buf_put_utf8_every_length)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_put_utf8(&b, 'A'));
	TJ_OKRC(tj_buf_put_utf8(&b, 0xE9));    /* é */
	TJ_OKRC(tj_buf_put_utf8(&b, 0x20AC));  /* € */
	TJ_OKRC(tj_buf_put_utf8(&b, 0x1F600)); /* 😀 */
	TJ_ASSERT_MEM(b.data, b.len, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10);
	tj_buf_free(&b);
}

TJ_TEST(grow_arrays)
{
	uint32_t *v = NULL;
	size_t cap = 0;
	for (size_t n = 0; n < 1000; n++) {
		if (n == cap)
			TJ_OKRC(tj_grow(&v, &cap, n + 1, sizeof(*v)));
		TJ_ASSERT(cap > n);
		v[n] = (uint32_t)n;
	}
	TJ_ASSERT_INT(v[999], ==, 999);
	size_t before = cap;
	TJ_OKRC(tj_grow(&v, &cap, 10, sizeof(*v))); /* already room */
	TJ_ASSERT_INT(cap, ==, before);
	uint32_t *keep = v;
	TJ_ASSERT_INT(tj_grow(&v, &cap, SIZE_MAX / 2, sizeof(*v)), ==, -ENOMEM); /* overflow */
	TJ_ASSERT(v == keep && cap == before);
	free(v);
}

TJ_TEST(buf_max_is_enforced)
{
	tj_buf b = TJ_BUF_INIT;
	b.max = 5;
	TJ_OKRC(tj_buf_append(&b, "12345", 5));
	TJ_ASSERT_INT(tj_buf_putc(&b, '6'), ==, TJ_ETOOBIG);
	TJ_ASSERT_INT(b.len, ==, 5);
	tj_buf_free(&b);
}

TJ_TEST(buf_grows_large)
{
	tj_buf b = TJ_BUF_INIT;
	for (int i = 0; i < 100000; i++)
		TJ_OKRC(tj_buf_putc(&b, (uint8_t)i));
	TJ_ASSERT_INT(b.len, ==, 100000);
	TJ_ASSERT_INT(b.data[99999], ==, (uint8_t)99999);
	tj_buf_free(&b);
}

TJ_TEST(endian_helpers)
{
	uint8_t p[8];
	tj_put32be(p, 0x01020304);
	TJ_ASSERT_INT(p[0], ==, 1);
	TJ_ASSERT_INT(tj_get32be(p), ==, 0x01020304);
	tj_put64(p, 0x1122334455667788ULL);
	TJ_ASSERT_INT(p[0], ==, 0x88);
	TJ_ASSERT(tj_get64(p) == 0x1122334455667788ULL);
}

TJ_TEST(strerror_covers_all_ranges)
{
	TJ_ASSERT_STR(tj_strerror(TJ_EQUOTA), "over quota");
	TJ_ASSERT_STR(tj_strerror(-ENOSPC), strerror(ENOSPC));
	TJ_ASSERT_STR(tj_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
	TJ_ASSERT_INT(tj_from_mdb(ENOSPC), ==, -ENOSPC);
	for (int rc = TJ_E_BASE - 1; rc > TJ_E_LAST; rc--)
		TJ_ASSERT(strcmp(tj_strerror(rc), "unknown error") != 0);
}

TJ_TEST(sanitize_caps_and_masks)
{
	char out[8];
	tj_sanitize(out, sizeof(out), "a\r\nb", 4);
	TJ_ASSERT_STR(out, "a??b");
	tj_sanitize(out, sizeof(out), "0123456789", 10);
	TJ_ASSERT_STR(out, "0123...");
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}
