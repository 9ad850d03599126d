/*
 * imap-cache.h - the per-message cache blob the node keeps in the store
 * (tj_msgrec.cache, tj_store_cache_get/put): the parsed MIME form that
 * FETCH serves ENVELOPE and BODYSTRUCTURE from, and the decoded header
 * fields that SEARCH FROM/TO/CC/BCC/SUBJECT/HEADER and SENT* match on, so
 * that neither reads or decompresses the message.
 *
 * Layout (versioned; integers little-endian):
 *   "TJC" 1, u32 n, then n bytes of search fields, then the tj_mime blob
 *   search fields: i64 sent day (days since 1970 of the Date: field as
 *   SENT* reads it, INT64_MIN when none), then entries of u8 field
 *   (enum imap_cache_field), u32 length, the value: RFC 2047 decoded,
 *   unfolded, leading blanks dropped and case-folded (tj_mime_fold), once
 *   per occurrence of the field.
 * A blob that is a bare tj_mime blob ("TJM", written before version 1, and
 * still by other writers) has no search fields: SEARCH then reads the
 * message.
 *
 * Pure functions of bytes; no store access.  Used by the IMAP commands and
 * by every other writer of messages (delivery) through imap_cache_build.
 */
#ifndef TJ_NODE_IMAP_CACHE_H
#define TJ_NODE_IMAP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct tj_mime_msg;

#define IMAP_CACHE_VERSION 1
#define IMAP_CACHE_NO_DATE INT64_MIN

/* the header fields kept decoded */
enum imap_cache_field {
	IMAP_CF_FROM,
	IMAP_CF_TO,
	IMAP_CF_CC,
	IMAP_CF_BCC,
	IMAP_CF_SUBJECT,
	IMAP_CF_MESSAGE_ID,
	IMAP_CF_COUNT
};

/* imap_cache_field_id - the enum imap_cache_field for a header name (any
 * case), or -1 when it is not kept. */
int imap_cache_field_id(const char *name, size_t len);

/* imap_cache_build - append the cache blob of a message (raw may use LF or
 * CRLF) to out.  msg_r, when not NULL, gets the MIME parse (free with
 * tj_mime_free).  0, -ENOMEM or TJ_ETOOBIG; on error out may hold a partial
 * blob and nothing is returned in *msg_r. */
int imap_cache_build(const uint8_t *raw, size_t len, tj_buf *out, struct tj_mime_msg **msg_r);

/* imap_cache_upgrade - append a blob made of the search fields of a header
 * block (the bytes before the empty line, as imap_header_len finds it) and
 * the MIME part of an older blob (imap_cache_view.mime), without parsing
 * the message again.  0, -ENOMEM or TJ_ETOOBIG. */
int imap_cache_upgrade(const uint8_t *hdr, size_t hlen, tj_slice mime, tj_buf *out);

/* A blob taken apart; the slices point into it. */
struct imap_cache_view {
	tj_slice mime;   /* the tj_mime blob */
	bool has_fields; /* false: an older blob without search fields */
	int64_t sent_day;
	tj_slice fields; /* the entries */
};

/* imap_cache_view - split a blob.  0 or TJ_ECORRUPT (TJ_EVERSION for a
 * newer version). */
int imap_cache_open(const uint8_t *blob, size_t len, struct imap_cache_view *v_r);

/* imap_cache_match - 1 if some occurrence of field contains needle (already
 * case-folded with tj_mime_fold; an empty needle matches any occurrence),
 * 0 if not, TJ_ECORRUPT for a damaged blob.  Only for a view with
 * has_fields. */
int imap_cache_match(const struct imap_cache_view *v, enum imap_cache_field field, const uint8_t *needle,
		     size_t len);

/* ---- the header block as SEARCH reads it (shared with the fallback) ---- */

/* imap_header_len - length of the header block of raw: through the first
 * empty line, or all of raw when there is none. */
size_t imap_header_len(const uint8_t *raw, size_t len);

/* imap_header_next - the next field of a header block: *p is advanced past
 * it (continuation lines included); its bytes are [*field_r, *p).  false at
 * the end. */
bool imap_header_next(const uint8_t **p, const uint8_t *end, const uint8_t **field_r);

/* imap_header_is - the field [f, next) is named name (any case) */
bool imap_header_is(const uint8_t *f, const uint8_t *next, const char *name, size_t nlen);

/* imap_header_value - append the value of field [f, next) named nlen bytes
 * long, decoded (RFC 2047, unfolded) with leading blanks dropped, to out.
 * 0, -ENOMEM or TJ_ETOOBIG. */
int imap_header_value(const uint8_t *f, const uint8_t *next, size_t nlen, tj_buf *out);

/* imap_sent_day - days since 1970 of the first Date: line of decoded header
 * text (tj_mime_search_text HEADERS output), time and zone disregarded
 * (RFC 3501 6.4.4); IMAP_CACHE_NO_DATE when there is none or it is
 * unreadable. */
int64_t imap_sent_day(const char *text, size_t len);

#endif
