/*
 * imap-mailbox.c - LIST pattern matching and INBOX handling (see imap-mailbox.h).
 *
 * Matching is a dynamic programme over (pattern position, name position)
 * kept in one row: hostile patterns like "*%*%*%...x" cost |p|*|n| steps
 * instead of exponential backtracking.
 */
#include "protocol/imap/imap-mailbox.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

bool imap_mailbox_is_inbox(const char *name, size_t len)
{
	return len == 5 && strncasecmp(name, "INBOX", 5) == 0;
}

static uint8_t upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

bool imap_mailbox_match(const char *pattern, size_t plen, const char *name, size_t nlen, char delim)
{
	/* row[j]: pattern[0..i) matches name[0..j) */
	bool row[IMAP_MAX_MAILBOX_NAME + 1];
	if (nlen > IMAP_MAX_MAILBOX_NAME)
		return false;
	size_t inbox_len = 0;
	if (nlen >= 5 && strncasecmp(name, "INBOX", 5) == 0 && (nlen == 5 || name[5] == delim))
		inbox_len = 5;
	row[0] = true;
	for (size_t j = 1; j <= nlen; j++)
		row[j] = false;
	for (size_t i = 0; i < plen; i++) {
		uint8_t pc = (uint8_t)pattern[i];
		if (pc == '*') {
			/* row[j] |= row[j-1] */
			for (size_t j = 1; j <= nlen; j++)
				row[j] = row[j] || row[j - 1];
		} else if (pc == '%') {
			for (size_t j = 1; j <= nlen; j++)
				row[j] = row[j] || (row[j - 1] && name[j - 1] != delim);
		} else {
			for (size_t j = nlen; j >= 1; j--) {
				uint8_t nc = (uint8_t)name[j - 1];
				bool eq = j <= inbox_len ? upper(nc) == upper(pc) : nc == pc;
				row[j] = row[j - 1] && eq;
			}
			row[0] = false;
		}
	}
	return row[nlen];
}

int imap_list_join(const char *ref, size_t rlen, const char *pat, size_t plen, char delim, tj_buf *out)
{
	if (rlen > 0 && !(plen > 0 && pat[0] == delim)) {
		int rc = tj_buf_append(out, ref, rlen);
		if (rc < 0)
			return rc;
	}
	return tj_buf_append(out, pat, plen);
}
