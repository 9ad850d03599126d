/*
 * imap-fetch.h - FETCH / UID FETCH arguments: sequence set, attributes
 * (macros ALL/FAST/FULL, BODY[section]<partial>, BINARY, MODSEQ ...) and
 * the CONDSTORE/QRESYNC modifiers (CHANGEDSINCE n [VANISHED]).
 *
 * Strings in the result (header field names) point into the command and
 * are valid as long as it is.
 */
#ifndef TJ_IMAP_FETCH_H
#define TJ_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-seqset.h"

#define IMAP_FETCH_MAX_PART_DEPTH 32
#define IMAP_FETCH_MAX_SECTIONS 64
#define IMAP_FETCH_MAX_FIELDS 256

enum imap_fetch_item {
	IMAP_FETCH_FLAGS = 1 << 0,
	IMAP_FETCH_INTERNALDATE = 1 << 1,
	IMAP_FETCH_RFC822_SIZE = 1 << 2,
	IMAP_FETCH_ENVELOPE = 1 << 3,
	IMAP_FETCH_BODY = 1 << 4,          /* BODY without [ ]: non-extensible structure */
	IMAP_FETCH_BODYSTRUCTURE = 1 << 5,
	IMAP_FETCH_UID = 1 << 6,
	IMAP_FETCH_MODSEQ = 1 << 7,
	IMAP_FETCH_RFC822 = 1 << 8,        /* = BODY[] and sets \Seen */
	IMAP_FETCH_RFC822_HEADER = 1 << 9, /* = BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_TEXT = 1 << 10,  /* = BODY[TEXT] and sets \Seen */
};

enum imap_section_kind {
	IMAP_SECTION_BODY,   /* BODY[...] / BODY.PEEK[...] */
	IMAP_SECTION_BINARY, /* BINARY[...] / BINARY.PEEK[...] */
	IMAP_SECTION_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SECT_ALL,      /* [] or [1.2]: the whole message/part */
	IMAP_SECT_HEADER,
	IMAP_SECT_HEADER_FIELDS,
	IMAP_SECT_HEADER_FIELDS_NOT,
	IMAP_SECT_TEXT,
	IMAP_SECT_MIME,     /* only after a part number */
};

struct imap_fetch_section {
	enum imap_section_kind kind;
	bool peek;                     /* .PEEK: do not set \Seen */
	uint32_t part[IMAP_FETCH_MAX_PART_DEPTH];
	size_t part_count;             /* 0: the top-level message */
	enum imap_section_text text;
	const char **fields;           /* HEADER.FIELDS[.NOT] names */
	size_t field_count;
	bool has_partial;
	uint32_t partial_offset;
	uint32_t partial_count;        /* nz */
};

struct imap_fetch {
	struct imap_seqset set;
	uint32_t items;                /* enum imap_fetch_item bits */
	struct imap_fetch_section *sections;
	size_t section_count;
	bool has_changedsince;
	uint64_t changedsince;
	bool vanished;
};

#define IMAP_FETCH_INIT {IMAP_SEQSET_INIT, 0, NULL, 0, false, 0, false}

/*
 * imap_fetch_parse - parse the arguments of FETCH (uid false) or UID FETCH
 * (uid true; IMAP_FETCH_UID is then implied).  f must be initialised
 * (IMAP_FETCH_INIT or a previous parse) and is reset.  CHANGEDSINCE implies
 * IMAP_FETCH_MODSEQ; VANISHED needs UID FETCH and CHANGEDSINCE.
 * 0, TJ_EINVAL (*error_r: reason for BAD) or -ENOMEM.
 */
int imap_fetch_parse(struct imap_fetch *f, const struct imap_arg *args, size_t argc, bool uid,
		     const char **error_r);
/* imap_fetch_free - release; f is left empty and reusable. */
void imap_fetch_free(struct imap_fetch *f);

/* imap_fetch_section_write - the response item name for a section:
 * "BODY[1.HEADER.FIELDS (FROM TO)]<0>" ("<origin>" only when partial),
 * "BINARY[2]", "BINARY.SIZE[2]".  .PEEK is dropped as RFC 3501 requires. */
int imap_fetch_section_write(tj_buf *b, const struct imap_fetch_section *s);

#endif
