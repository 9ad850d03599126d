/*
 * mime.h - pure MIME parsing for IMAP FETCH and SEARCH (bytes in, results out).
 *
 * A message is parsed ONCE (tj_mime_parse) into a part table (offsets into the
 * stored bytes plus CRLF sizes) and the three IMAP strings ENVELOPE, BODY and
 * BODYSTRUCTURE, written exactly as Dovecot 2.3 writes them.  tj_mime_serialize
 * turns that into a compact blob the store caches; tj_mime_deserialize gives it
 * back without touching the message, and FETCH BODY[section] is served by
 * slicing the stored bytes (tj_mime_section_locate / tj_mime_section_fetch).
 *
 * LF/CRLF convention: offsets (*_off, *_len) are RAW byte offsets in the stored
 * message, which may use bare LF line ends.  Sizes and line counts (*_vsize,
 * *_lines, RFC822.SIZE, BODYSTRUCTURE) are the CRLF figures: what the bytes
 * become after tj_mime_crlf() (every LF not preceded by CR gets a CR).  A
 * server sends slices through tj_mime_crlf(); <partial> ranges count CRLF bytes.
 *
 * All functions are reentrant; a struct tj_mime_msg is immutable after
 * parse/deserialize and may be read by several threads.
 */
#ifndef TJ_MIME_H
#define TJ_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Limits (the same numbers as Dovecot, so structures match). */
#define TJ_MIME_MAX_NESTING 100     /* depth of multipart / message/rfc822 nesting */
#define TJ_MIME_MAX_PARTS 10000     /* MIME parts per message */
#define TJ_MIME_BOUNDARY_MAX 80     /* longer boundaries are truncated */
#define TJ_MIME_HDR_NAME_MAX 1000   /* longer names: the line is a nameless value */
#define TJ_MIME_MAX_ADDRESSES 10000 /* per address header when decoding for search */

#define TJ_MIME_NONE UINT32_MAX

enum tj_mime_part_flags {
	TJ_MIME_PART_MULTIPART = 0x01,
	TJ_MIME_PART_RFC822 = 0x02,  /* message/rfc822 with a parsed child */
	TJ_MIME_PART_TEXT = 0x04,
	TJ_MIME_PART_IS_MIME = 0x08, /* had Mime-Version/Content-Type, or a multipart child */
	TJ_MIME_PART_DIGEST = 0x10,  /* multipart/digest */
	TJ_MIME_PART_OVERFLOW = 0x20,/* a limit was hit inside this part */
	TJ_MIME_PART_HAS_EOH = 0x40, /* header ended with an empty line */
};

/* One MIME part.  Parts are stored in pre-order: index 0 is the message. */
struct tj_mime_part {
	uint32_t parent, first_child, next; /* indexes or TJ_MIME_NONE */
	uint32_t flags;                     /* enum tj_mime_part_flags */
	uint64_t hdr_off, hdr_len;          /* raw header, including the empty line */
	uint64_t body_off, body_len;        /* raw body */
	uint64_t hdr_vsize, body_vsize;     /* CRLF sizes */
	uint32_t hdr_lines, body_lines;     /* LF counts */
};

struct tj_mime_msg;

/* tj_mime_parse - parse a complete message (raw may use LF or CRLF).
 * The message bytes are not kept; msg_r owns copies of everything it needs.
 * Never fails on malformed mail (it is parsed as Dovecot would).
 * Returns 0, -ENOMEM, or TJ_ETOOBIG if len does not fit the format (>= 2^63). */
int tj_mime_parse(const uint8_t *raw, size_t len, struct tj_mime_msg **msg_r);
/* tj_mime_free - release; *msg is set to NULL (NULL is fine). */
void tj_mime_free(struct tj_mime_msg **msg);

/* Accessors.  Strings are owned by msg and valid until tj_mime_free. */
uint32_t tj_mime_part_count(const struct tj_mime_msg *msg);
const struct tj_mime_part *tj_mime_part_get(const struct tj_mime_msg *msg, uint32_t idx);
/* The message's RFC822.SIZE (CRLF bytes). */
uint64_t tj_mime_size(const struct tj_mime_msg *msg);
/* IMAP strings without the outer parentheses, exactly as sent after
 * "ENVELOPE (", "BODY (" and "BODYSTRUCTURE (".  May contain literals. */
tj_slice tj_mime_envelope(const struct tj_mime_msg *msg);
tj_slice tj_mime_body(const struct tj_mime_msg *msg);
tj_slice tj_mime_bodystructure(const struct tj_mime_msg *msg);

/* Content information of a part (only after tj_mime_parse, not after
 * deserialize: returns TJ_ENOTFOUND then, or for a bad index).
 * type/subtype are "text"/"plain" when absent; charset NULL when absent;
 * cte is lowercase-insensitive raw token or NULL (7bit). */
struct tj_mime_content {
	const char *type, *subtype, *charset, *cte, *disposition, *filename;
};
int tj_mime_part_content(const struct tj_mime_msg *msg, uint32_t idx,
			 struct tj_mime_content *content_r);

/* tj_mime_serialize - append the compact cached form to out (appends; out
 * may already hold data).  0, -ENOMEM or TJ_ETOOBIG. */
int tj_mime_serialize(const struct tj_mime_msg *msg, tj_buf *out);
/* tj_mime_deserialize - rebuild from tj_mime_serialize output; checks every
 * length and link.  0, -ENOMEM, TJ_ECORRUPT (damaged) or TJ_EVERSION. */
int tj_mime_deserialize(const uint8_t *data, size_t len, struct tj_mime_msg **msg_r);

/* tj_mime_section_locate - resolve an IMAP section spec (the text between
 * "[" and "]", e.g. "", "HEADER", "TEXT", "1.2", "1.2.MIME", "3.HEADER")
 * to one raw range [*off_r, *off_r + *len_r) of the stored message and its
 * CRLF size.  HEADER.FIELDS[.NOT] are not ranges: use tj_mime_section_fetch.
 * 0; TJ_ENOTFOUND when the part does not exist (Dovecot then sends "");
 * TJ_EINVAL for a malformed or non-range spec. */
int tj_mime_section_locate(const struct tj_mime_msg *msg, const char *section,
			   uint64_t *off_r, uint64_t *len_r, uint64_t *vsize_r);
/* tj_mime_section_fetch - append the section's bytes, CRLF-normalised, to out.
 * Also handles "HEADER.FIELDS (A B)" and "HEADER.FIELDS.NOT (A B)", with an
 * optional part prefix ("1.HEADER.FIELDS (From)"): matching header fields
 * (with their folded lines) followed by an empty line.  raw/len must be the
 * message given to tj_mime_parse.  Errors as tj_mime_section_locate, plus
 * -ENOMEM/TJ_ETOOBIG; TJ_ECORRUPT if msg does not fit raw. */
int tj_mime_section_fetch(const struct tj_mime_msg *msg, const uint8_t *raw, size_t len,
			  const char *section, tj_buf *out);

/* tj_mime_crlf - append in with every bare LF turned into CRLF.  prev is the
 * byte before in (0 if none) so slices convert like the whole message.
 * 0, -ENOMEM or TJ_ETOOBIG. */
int tj_mime_crlf(const uint8_t *in, size_t len, uint8_t prev, tj_buf *out);
/* tj_mime_crlf_size - size of in after tj_mime_crlf (same prev rule). */
uint64_t tj_mime_crlf_size(const uint8_t *in, size_t len, uint8_t prev);

/* ---- decoding for SEARCH ---- */

/* tj_mime_decode_header - unfold and decode RFC 2047 encoded words of a
 * header value to UTF-8 (unknown charsets and bad bytes become U+FFFD;
 * whitespace between adjacent encoded words is dropped).  Appends to out.
 * 0, -ENOMEM or TJ_ETOOBIG. */
int tj_mime_decode_header(const uint8_t *value, size_t len, tj_buf *out);
/* tj_mime_decode_2231 - decode an RFC 2231 extended value
 * ("charset'lang'%xx..") to UTF-8; a value without two quotes is copied. */
int tj_mime_decode_2231(const char *value, tj_buf *out);
/* tj_mime_decode_base64 / _qp - content-transfer decoding (lenient: bad
 * characters are skipped, as mail clients do).  Appends to out. */
int tj_mime_decode_base64(const uint8_t *in, size_t len, tj_buf *out);
int tj_mime_decode_qp(const uint8_t *in, size_t len, tj_buf *out);
/* tj_mime_to_utf8 - convert from charset (NULL/"" = us-ascii, treated as
 * UTF-8, bad bytes U+FFFD; unknown charsets likewise) to valid UTF-8. */
int tj_mime_to_utf8(const char *charset, const uint8_t *in, size_t len, tj_buf *out);
/* tj_mime_search_text - the searchable text of a message: every header as
 * "Name: decoded value\n", then each text part (and embedded messages'
 * headers) decoded and converted to UTF-8.  HTML is kept as is.
 * If headers_only/body_only, only that half.  0, -ENOMEM or TJ_ETOOBIG. */
enum tj_mime_search_what { TJ_MIME_SEARCH_ALL, TJ_MIME_SEARCH_HEADERS, TJ_MIME_SEARCH_BODY };
int tj_mime_search_text(const uint8_t *raw, size_t len, enum tj_mime_search_what what,
			tj_buf *out);
/* tj_mime_fold - append UTF-8 text case-folded (ASCII plus simple folding of
 * Latin-1, Latin Extended-A, Greek and Cyrillic); invalid bytes -> U+FFFD. */
int tj_mime_fold(const uint8_t *in, size_t len, tj_buf *out);
/* tj_mime_search - 1 if needle occurs in haystack ignoring case (both UTF-8),
 * 0 if not, <0 on error (-ENOMEM).  An empty needle always matches. */
int tj_mime_search(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t needle_len);

#endif
