/*
 * imap-write.c - response helpers (see imap-write.h): strings in the
 * smallest safe form, flag lists, compressed sequence sets.
 * Date-times are written by imap_write_datetime() in imap-date.c.
 */
#include "protocol/imap/imap-write.h"
#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-parser.h"
#include "common/err.h"

#include <inttypes.h>
#include <strings.h>

bool imap_quotable(const void *s, size_t len, unsigned opts)
{
	const uint8_t *p = s;
	if (len > IMAP_WRITE_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == 0 || p[i] == '\r' || p[i] == '\n')
			return false;
		if (p[i] >= 0x80 && !(opts & IMAP_WRITE_UTF8))
			return false;
	}
	return true;
}

int imap_write_quoted(tj_buf *b, const void *s, size_t len)
{
	const uint8_t *p = s;
	int rc = tj_buf_putc(b, '"');
	for (size_t i = 0; i < len && rc == 0; i++) {
		if (p[i] == '"' || p[i] == '\\')
			rc = tj_buf_putc(b, '\\');
		if (rc == 0)
			rc = tj_buf_putc(b, p[i]);
	}
	return rc < 0 ? rc : tj_buf_putc(b, '"');
}

int imap_write_literal(tj_buf *b, const void *s, size_t len, bool literal8)
{
	int rc = tj_buf_printf(b, "%s{%zu}\r\n", literal8 ? "~" : "", len);
	return rc < 0 ? rc : tj_buf_append(b, s, len);
}

int imap_write_string(tj_buf *b, const void *s, size_t len, unsigned opts)
{
	if (imap_quotable(s, len, opts))
		return imap_write_quoted(b, s, len);
	return imap_write_literal(b, s, len, false);
}

int imap_write_astring(tj_buf *b, const void *s, size_t len, unsigned opts)
{
	const uint8_t *p = s;
	bool atom = len > 0 && !(len == 3 && strncasecmp(s, "NIL", 3) == 0);
	for (size_t i = 0; i < len && atom; i++)
		atom = imap_is_astring_char(p[i]);
	if (atom)
		return tj_buf_append(b, s, len);
	return imap_write_string(b, s, len, opts);
}

int imap_write_nstring(tj_buf *b, const void *s, size_t len, unsigned opts)
{
	if (!s)
		return tj_buf_puts(b, "NIL");
	return imap_write_string(b, s, len, opts);
}

int imap_write_flags(tj_buf *b, uint32_t system, const char *const *keywords, size_t count)
{
	static const uint32_t order[] = {IMAP_FLAG_ANSWERED, IMAP_FLAG_FLAGGED, IMAP_FLAG_DELETED,
					 IMAP_FLAG_SEEN, IMAP_FLAG_DRAFT, IMAP_FLAG_RECENT};
	bool sp = false;
	int rc = tj_buf_putc(b, '(');
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && rc == 0; i++) {
		if (!(system & order[i]))
			continue;
		if (sp)
			rc = tj_buf_putc(b, ' ');
		if (rc == 0)
			rc = tj_buf_puts(b, imap_sysflag_name(order[i]));
		sp = true;
	}
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (sp)
			rc = tj_buf_putc(b, ' ');
		if (rc == 0)
			rc = tj_buf_puts(b, keywords[i]);
		sp = true;
	}
	return rc < 0 ? rc : tj_buf_putc(b, ')');
}

int imap_write_seqset(tj_buf *b, const uint32_t *nums, size_t count)
{
	for (size_t i = 1; i < count; i++)
		if (nums[i] < nums[i - 1])
			return TJ_EINVAL;
	size_t i = 0;
	bool first = true;
	while (i < count) {
		uint32_t lo = nums[i], hi = lo;
		i++;
		while (i < count && (nums[i] == hi || (hi != UINT32_MAX && nums[i] == hi + 1)))
			hi = nums[i++];
		int rc = lo == hi ? tj_buf_printf(b, "%s%" PRIu32, first ? "" : ",", lo)
				  : tj_buf_printf(b, "%s%" PRIu32 ":%" PRIu32, first ? "" : ",", lo, hi);
		if (rc < 0)
			return rc;
		first = false;
	}
	return 0;
}
