/*
 * users-csv.c - the site's users file (username,quota,source,state): a pure
 * parser over a buffer and a writer into a tj_buf.  The format and what is
 * refused are described in users-csv.h and docs/accounts.md.  Errors name the
 * line; nothing here touches the store.
 */
#include "cli/users-csv.h"
#include "common/err.h"
#include "store/op.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tj_users_source_name(int source)
{
	return source == TJ_SOURCE_LDAP ? "ldap" : "override";
}

const char *tj_users_state_name(int state)
{
	return state == TJ_USER_DISABLED ? "disabled" : "enabled";
}

int tj_users_check_name(const char *name, size_t len, const char **why_r)
{
	const char *why = NULL;
	if (len == 0)
		why = "empty user name";
	else if (len > TJ_USERS_NAME_MAX)
		why = "user name longer than 255 bytes";
	for (size_t i = 0; !why && i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 'A' && c <= 'Z')
			why = "upper-case letter in the user name (the store keeps names in lower case)";
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
			   c == '@' || c == '+'))
			why = "user name has a character other than a-z 0-9 . _ - @ +";
	}
	if (why_r)
		*why_r = why;
	return why ? TJ_EINVAL : 0;
}

static void set_err(char *err, size_t errsz, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_err(char *err, size_t errsz, unsigned line, const char *fmt, ...)
{
	if (!err || !errsz)
		return;
	int n = snprintf(err, errsz, "line %u: ", line);
	if (n < 0 || (size_t)n >= errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

static void noncanon(tj_users_csv *f, unsigned line, const char *why)
{
	if (f->canonical) {
		f->canonical = 0;
		f->noncanon_line = line;
		f->noncanon_why = why;
	}
}

/* a plain decimal: digits only, no leading zero unless "0" */
static int parse_quota(const char *p, size_t n, uint64_t *v_r)
{
	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > TJ_USERS_QUOTA_MAX)
			return -1;
	}
	*v_r = v;
	return 0;
}

static const char *field_names[4] = {"username", "quota", "source", "state"};

/* parse_line - one data line (no line end) into row */
static int parse_line(const char *p, size_t n, unsigned line, tj_users_row *row, char *err, size_t errsz)
{
	const char *fld[4];
	size_t flen[4];
	size_t nf = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] == '"') {
			set_err(err, errsz, line, "quoted field (the users file has no quoting; no field may hold '\"')");
			return TJ_EINVAL;
		}
		if (i < n && (p[i] == ' ' || p[i] == '\t')) {
			set_err(err, errsz, line, "space or tab in field %zu (%s); the users file has none",
				nf + 1, nf < 4 ? field_names[nf] : "extra");
			return TJ_EINVAL;
		}
		if (i < n && ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)) {
			set_err(err, errsz, line, "control character 0x%02x", (unsigned char)p[i]);
			return TJ_EINVAL;
		}
		if (i == n || p[i] == ',') {
			if (nf < 4) {
				fld[nf] = p + start;
				flen[nf] = i - start;
			}
			nf++;
			start = i + 1;
		}
	}
	if (nf != 4) {
		set_err(err, errsz, line, "%zu field%s, want 4 (username,quota,source,state)", nf, nf == 1 ? "" : "s");
		return TJ_EINVAL;
	}
	const char *why;
	if (tj_users_check_name(fld[0], flen[0], &why)) {
		set_err(err, errsz, line, "%s: '%.*s'", why, (int)(flen[0] > 64 ? 64 : flen[0]), fld[0]);
		return TJ_EINVAL;
	}
	memcpy(row->name, fld[0], flen[0]);
	row->name[flen[0]] = 0;
	if (parse_quota(fld[1], flen[1], &row->quota)) {
		set_err(err, errsz, line, "quota '%.*s' is not a whole number from 0 to %llu without leading zeros",
			(int)(flen[1] > 32 ? 32 : flen[1]), fld[1], (unsigned long long)TJ_USERS_QUOTA_MAX);
		return TJ_EINVAL;
	}
	if (flen[2] == 4 && memcmp(fld[2], "ldap", 4) == 0)
		row->source = TJ_SOURCE_LDAP;
	else if (flen[2] == 8 && memcmp(fld[2], "override", 8) == 0)
		row->source = TJ_SOURCE_OVERRIDE;
	else {
		set_err(err, errsz, line, "source '%.*s' is not ldap or override", (int)(flen[2] > 32 ? 32 : flen[2]),
			fld[2]);
		return TJ_EINVAL;
	}
	if (flen[3] == 7 && memcmp(fld[3], "enabled", 7) == 0)
		row->state = TJ_USER_ENABLED;
	else if (flen[3] == 8 && memcmp(fld[3], "disabled", 8) == 0)
		row->state = TJ_USER_DISABLED;
	else {
		set_err(err, errsz, line, "state '%.*s' is not enabled or disabled", (int)(flen[3] > 32 ? 32 : flen[3]),
			fld[3]);
		return TJ_EINVAL;
	}
	row->line = line;
	return 0;
}

static int cmp_row_name(const void *a, const void *b)
{
	return strcmp(((const tj_users_row *)a)->name, ((const tj_users_row *)b)->name);
}

static int cmp_row_ptr(const void *a, const void *b)
{
	return strcmp((*(tj_users_row *const *)a)->name, (*(tj_users_row *const *)b)->name);
}

void tj_users_csv_sort(tj_users_row *rows, size_t n)
{
	if (n > 1)
		qsort(rows, n, sizeof(*rows), cmp_row_name);
}

void tj_users_csv_free(tj_users_csv *f)
{
	free(f->rows);
	memset(f, 0, sizeof(*f));
	f->canonical = 1;
}

/* find_duplicate - a name given twice: 0 or TJ_EINVAL naming both lines */
static int find_duplicate(const tj_users_csv *f, char *err, size_t errsz)
{
	if (f->n < 2)
		return 0;
	tj_users_row **v = malloc(f->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		v[i] = &f->rows[i];
	qsort(v, f->n, sizeof(*v), cmp_row_ptr);
	int rc = 0;
	for (size_t i = 1; i < f->n && !rc; i++) {
		if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
			unsigned a = v[i - 1]->line < v[i]->line ? v[i - 1]->line : v[i]->line;
			unsigned b = v[i - 1]->line < v[i]->line ? v[i]->line : v[i - 1]->line;
			set_err(err, errsz, b, "user %s is already on line %u", v[i]->name, a);
			rc = TJ_EINVAL;
		}
	}
	free(v);
	return rc;
}

int tj_users_csv_parse(const uint8_t *buf, size_t len, tj_users_csv *f_r, char *err, size_t errsz)
{
	memset(f_r, 0, sizeof(*f_r));
	f_r->canonical = 1;
	if (err && errsz)
		err[0] = 0;
	size_t pos = 0;
	unsigned line = 0;
	while (pos < len) {
		line++;
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		size_t n = end - pos;
		const char *p = (const char *)buf + pos;
		pos = nl ? end + 1 : len;
		if (!nl)
			noncanon(f_r, line, "no line end after the last line");
		if (n && p[n - 1] == '\r') {
			n--;
			noncanon(f_r, line, "CRLF line end");
		}
		if (n > TJ_USERS_CSV_MAX_LINE) {
			set_err(err, errsz, line, "longer than %d bytes", TJ_USERS_CSV_MAX_LINE);
			return TJ_EINVAL;
		}
		if (memchr(p, 0, n)) {
			set_err(err, errsz, line, "NUL byte");
			return TJ_EINVAL;
		}
		if (n == 0) {
			noncanon(f_r, line, "blank line");
			continue;
		}
		if (p[0] == '#') {
			noncanon(f_r, line, "comment");
			continue;
		}
		if (line == 1 && n == strlen(TJ_USERS_CSV_HEADER) && memcmp(p, TJ_USERS_CSV_HEADER, n) == 0) {
			noncanon(f_r, line, "header line");
			continue;
		}
		if (f_r->n == TJ_USERS_CSV_MAX_USERS) {
			set_err(err, errsz, line, "more than %d users", TJ_USERS_CSV_MAX_USERS);
			return TJ_EINVAL;
		}
		if (f_r->n == f_r->cap && tj_grow(&f_r->rows, &f_r->cap, f_r->n + 1, sizeof(*f_r->rows)))
			return -ENOMEM;
		tj_users_row *row = &f_r->rows[f_r->n];
		int rc = parse_line(p, n, line, row, err, errsz);
		if (rc)
			return rc;
		if (f_r->n && strcmp(f_r->rows[f_r->n - 1].name, row->name) > 0)
			noncanon(f_r, line, "not sorted by username");
		f_r->n++;
	}
	return find_duplicate(f_r, err, errsz);
}

int tj_users_csv_write(const tj_users_row *rows, size_t n, tj_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (tj_users_check_name(rows[i].name, strnlen(rows[i].name, sizeof(rows[i].name)), NULL) ||
		    rows[i].quota > TJ_USERS_QUOTA_MAX || rows[i].source > TJ_SOURCE_OVERRIDE ||
		    rows[i].state > TJ_USER_DISABLED)
			return TJ_EINVAL;
		int rc = tj_buf_printf(out, "%s,%llu,%s,%s\n", rows[i].name, (unsigned long long)rows[i].quota,
				       tj_users_source_name(rows[i].source), tj_users_state_name(rows[i].state));
		if (rc)
			return rc;
	}
	return 0;
}

int tj_users_parse_multiplier(const char *s, uint32_t *milli_r)
{
	uint64_t whole = 0;
	size_t i = 0;
	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return TJ_EINVAL;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		whole = whole * 10 + (uint64_t)(s[i] - '0');
		if (whole > TJ_USERS_MULT_MAX_MILLI / 1000)
			return TJ_EINVAL;
	}
	uint64_t frac = 0;
	if (s[i] == '.') {
		i++;
		size_t d = 0;
		for (; s[i] >= '0' && s[i] <= '9'; i++, d++) {
			if (d == 3)
				return TJ_EINVAL;
			frac = frac * 10 + (uint64_t)(s[i] - '0');
		}
		if (d == 0)
			return TJ_EINVAL;
		for (; d < 3; d++)
			frac *= 10;
	}
	if (s[i])
		return TJ_EINVAL;
	uint64_t m = whole * 1000 + frac;
	if (m < 1 || m > TJ_USERS_MULT_MAX_MILLI)
		return TJ_EINVAL;
	*milli_r = (uint32_t)m;
	return 0;
}

int tj_users_quota_bytes(uint64_t quota, uint32_t milli, uint64_t *bytes_r)
{
	unsigned __int128 v = (unsigned __int128)quota * milli * (1u << 20) / 1000;
	if (v > UINT64_MAX)
		return TJ_ETOOBIG;
	*bytes_r = (uint64_t)v;
	return 0;
}

uint64_t tj_users_quota_from_bytes(uint64_t bytes, uint32_t milli, int *exact_r)
{
	unsigned __int128 unit = (unsigned __int128)milli * (1u << 20); /* bytes per quota, x1000 */
	unsigned __int128 q = ((unsigned __int128)bytes * 1000 + unit - 1) / unit;
	if (q > TJ_USERS_QUOTA_MAX)
		q = TJ_USERS_QUOTA_MAX;
	uint64_t back = 0;
	if (exact_r)
		*exact_r = tj_users_quota_bytes((uint64_t)q, milli, &back) == 0 && back == bytes;
	return (uint64_t)q;
}
