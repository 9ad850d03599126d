/*
 * imap-mailbox.h - mailbox-name helpers: LIST wildcard matching and INBOX.
 *
 * tjstore's hierarchy delimiter is '/'; functions take it as a parameter
 * anyway so tests and future namespaces can use another.
 */
#ifndef TJ_IMAP_MAILBOX_H
#define TJ_IMAP_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

#define IMAP_MAILBOX_DELIM '/'
#define IMAP_MAX_MAILBOX_NAME 1024 /* bytes; longer names never match */

/*
 * imap_mailbox_match - does name match pattern?  '*' matches any run of
 * characters, '%' any run without the delimiter.  Matching is case
 * sensitive except that a leading "INBOX" component of name matches the
 * pattern case-insensitively (RFC 3501 6.3.8).  Time is O(|pattern| *
 * |name|); no recursion.
 */
bool imap_mailbox_match(const char *pattern, size_t plen, const char *name, size_t nlen, char delim);

/* imap_mailbox_is_inbox - name is "INBOX" in any case. */
bool imap_mailbox_is_inbox(const char *name, size_t len);

/*
 * imap_list_join - the effective LIST pattern from reference and mailbox
 * arguments: the reference prefixed to the pattern, unless the pattern is
 * empty-reference style or starts with the delimiter (then used alone).
 * Appends to out: 0 or a tj_buf error.
 */
int imap_list_join(const char *ref, size_t rlen, const char *pat, size_t plen, char delim, tj_buf *out);

#endif
