/*
 * imap-utf7.h - modified UTF-7 mailbox names (RFC 3501 5.1.3) <-> UTF-8.
 *
 * Printable US-ASCII stands for itself except '&', written "&-"; anything
 * else is UTF-16BE in modified base64 ("," for "/", no padding) between
 * '&' and '-'.  Both directions reject invalid input rather than guess.
 */
#ifndef TJ_IMAP_UTF7_H
#define TJ_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* imap_utf7_to_utf8 - decode mUTF-7, appending UTF-8 to out.  TJ_EINVAL
 * for: raw non-printable or 8-bit bytes, '&' sections that are empty
 * (other than "&-"), unterminated, have bad base64 or non-zero padding
 * bits, an odd byte count, unpaired surrogates, U+0000, encode a printable
 * ASCII character, or directly follow another encoded section (so every
 * name has exactly one spelling and re-encodes to the same bytes).  Otherwise 0 or a tj_buf error; on error out
 * is restored to its previous length. */
int imap_utf7_to_utf8(const char *in, size_t len, tj_buf *out);

/* imap_utf8_to_utf7 - encode UTF-8 as mUTF-7, appending to out.
 * TJ_EINVAL for invalid UTF-8 (overlong, surrogates, > U+10FFFF,
 * truncated) or U+0000; 0 or a tj_buf error.  out is restored on error. */
int imap_utf8_to_utf7(const char *in, size_t len, tj_buf *out);

/* imap_utf7_is_valid - true when imap_utf7_to_utf8 would succeed. */
bool imap_utf7_is_valid(const char *in, size_t len);

#endif
