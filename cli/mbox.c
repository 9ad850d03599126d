/*
 * mbox.c - mbox splitting for `tjstore-cli import` (see mbox.h).
 */
#include "cli/mbox.h"

#include <string.h>
#include <time.h>

int tj_mbox_is_mbox(const uint8_t *buf, size_t len)
{
	return len >= 5 && memcmp(buf, "From ", 5) == 0;
}

int64_t tj_mbox_parse_date(const uint8_t *line, size_t len)
{
	char tmp[128];
	/* skip "From " and the sender */
	size_t i = 5;
	while (i < len && line[i] == ' ')
		i++;
	while (i < len && line[i] != ' ')
		i++;
	while (i < len && line[i] == ' ')
		i++;
	size_t n = len - i;
	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, line + i, n);
	tmp[n] = 0;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(tmp, "%a %b %d %H:%M:%S %Y", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm);
}

/* is there a separator line at p (start of a line)? */
static int is_sep(const tj_mbox_iter *it, size_t p)
{
	if (it->len - p < 5 || memcmp(it->buf + p, "From ", 5) != 0)
		return 0;
	if (p == 0)
		return 1;
	/* previous line must be empty */
	return p >= 2 && it->buf[p - 1] == '\n' && (it->buf[p - 2] == '\n' || (p >= 3 && it->buf[p - 2] == '\r' && it->buf[p - 3] == '\n'));
}

int tj_mbox_next(tj_mbox_iter *it, tj_buf *out, int64_t *date_r)
{
	tj_buf_reset(out);
	*date_r = 0;
	if (it->pos >= it->len)
		return 0;
	size_t p = it->pos;
	if (is_sep(it, p)) {
		const uint8_t *nl = memchr(it->buf + p, '\n', it->len - p);
		size_t l = nl ? (size_t)(nl - (it->buf + p)) : it->len - p;
		size_t ll = l && it->buf[p + l - 1] == '\r' ? l - 1 : l;
		*date_r = tj_mbox_parse_date(it->buf + p, ll);
		p += l + (nl ? 1 : 0);
	}
	while (p < it->len && !is_sep(it, p)) {
		const uint8_t *nl = memchr(it->buf + p, '\n', it->len - p);
		size_t l = nl ? (size_t)(nl - (it->buf + p)) + 1 : it->len - p;
		const uint8_t *line = it->buf + p;
		size_t q = 0;
		while (q < l && line[q] == '>')
			q++;
		int rc;
		if (q > 0 && l - q >= 5 && memcmp(line + q, "From ", 5) == 0)
			rc = tj_buf_append(out, line + 1, l - 1);
		else
			rc = tj_buf_append(out, line, l);
		if (rc)
			return rc;
		p += l;
	}
	it->pos = p;
	/* the empty line before the next separator belongs to the mbox format */
	if (p < it->len && out->len && out->data[out->len - 1] == '\n') {
		size_t cut = out->len - 1;
		if (cut && out->data[cut - 1] == '\r')
			cut--;
		if (cut && out->data[cut - 1] == '\n')
			tj_buf_truncate(out, cut);
	}
	return 1;
}
