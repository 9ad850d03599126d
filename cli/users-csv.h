/*
 * users-csv.h - the site's users file: parse and write (pure, no I/O).
 *
 * One line per user, four comma-separated fields, no header, no quoting:
 *
 *     username,quota,source,state          e.g.  alice,100,ldap,enabled
 *
 * quota is a decimal number before the multiplier (config users.quota_multiplier);
 * the store keeps quota x multiplier MiB (0 = unlimited).  source is "ldap" or
 * "override", state "enabled" or "disabled".  docs/accounts.md is the manual.
 *
 * Canonical form (what tj_users_csv_write produces, and what the site's sync
 * script writes): LF line ends, every line ends with LF, no comments, no blank
 * lines, sorted by username (byte order).  The parser also accepts, and
 * records as not canonical: CRLF line ends, a missing final LF, '#' comment
 * lines, blank lines, the header line "username,quota,source,state" as line
 * 1, and lines out of order.  export(import(f)) == f holds for every
 * canonical f.
 *
 * Refused, with an error naming the line: quoting ('"'), spaces or tabs in a
 * field, a field count other than 4, an invalid or upper-case user name (the
 * store keeps names in lower case), a quota that is not a plain decimal (no
 * sign, no leading zeros) or is over TJ_USERS_QUOTA_MAX, an unknown source or
 * state, a user named twice, NUL bytes, over-long lines.
 */
#ifndef TJ_CLI_USERS_CSV_H
#define TJ_CLI_USERS_CSV_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define TJ_USERS_CSV_MAX_LINE 1024       /* bytes in one line, without its line end */
#define TJ_USERS_CSV_MAX_USERS 1000000   /* lines (users) in one file */
#define TJ_USERS_NAME_MAX 255            /* bytes in a user name (as the store) */
#define TJ_USERS_QUOTA_MAX 1000000000ULL /* largest quota number (before the multiplier) */
#define TJ_USERS_MULT_MAX_MILLI 1000000  /* multiplier 0.001 .. 1000.000, as the config */
#define TJ_USERS_CSV_HEADER "username,quota,source,state"

typedef struct tj_users_row {
	char name[TJ_USERS_NAME_MAX + 1];
	uint64_t quota;  /* before the multiplier; 0 = unlimited */
	uint8_t source;  /* enum tj_user_source */
	uint8_t state;   /* enum tj_user_state */
	unsigned line;   /* 1-based line in the parsed file (0 when not parsed) */
} tj_users_row;

typedef struct tj_users_csv {
	tj_users_row *rows; /* in the file's order */
	size_t n, cap;
	int canonical;         /* 1 when writing rows sorted gives back the input exactly */
	unsigned noncanon_line;/* the first line that made it not canonical (0 = the end) */
	const char *noncanon_why; /* static text: "CRLF line end", "comment", ... */
} tj_users_csv;

/* tj_users_csv_parse - parse a whole users file.  *f_r is initialised here
 * (free with tj_users_csv_free, also after an error).  0, or TJ_EINVAL with
 * "line N: problem" in err (errsz bytes, always NUL-terminated), or -ENOMEM. */
int tj_users_csv_parse(const uint8_t *buf, size_t len, tj_users_csv *f_r, char *err, size_t errsz);

void tj_users_csv_free(tj_users_csv *f);

/* tj_users_csv_sort - sort rows by name (byte order: strcmp). */
void tj_users_csv_sort(tj_users_row *rows, size_t n);

/* tj_users_csv_write - append rows as canonical lines (in the given order;
 * sort first for a canonical file).  0, -ENOMEM or TJ_EINVAL (a row that
 * the format cannot hold). */
int tj_users_csv_write(const tj_users_row *rows, size_t n, tj_buf *out);

/* tj_users_check_name - 0 when name is a user name the file can carry
 * (the store's rule, in lower case); else TJ_EINVAL and why_r a static text. */
int tj_users_check_name(const char *name, size_t len, const char **why_r);

/* tj_users_parse_multiplier - "1", "1.5", "0.001" (at most 3 decimals,
 * 0.001 .. 1000) into thousandths.  0 or TJ_EINVAL. */
int tj_users_parse_multiplier(const char *s, uint32_t *milli_r);

/* tj_users_quota_bytes - quota x multiplier MiB, rounded down to a byte.
 * 0 or TJ_ETOOBIG (does not fit 64 bits). */
int tj_users_quota_bytes(uint64_t quota, uint32_t milli, uint64_t *bytes_r);

/* tj_users_quota_from_bytes - the smallest quota number whose bytes are >=
 * bytes (for accounts whose quota was set in bytes by hand); *exact_r tells
 * whether it maps back to the same bytes. */
uint64_t tj_users_quota_from_bytes(uint64_t bytes, uint32_t milli, int *exact_r);

const char *tj_users_source_name(int source); /* "ldap" | "override" */
const char *tj_users_state_name(int state);   /* "enabled" | "disabled" */

#endif
