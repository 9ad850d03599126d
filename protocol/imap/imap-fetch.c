/*
 * imap-fetch.c - FETCH argument parser (see imap-fetch.h).
 *
 * Works on the argument tree: a fetch attribute is an atom ("FLAGS") or a
 * SECTION argument the tokenizer built for NAME[...]<...>, whose contents
 * are an atom like "1.2.HEADER.FIELDS" optionally followed by a list of
 * header names.
 */
#include "protocol/imap/imap-fetch.h"
#include "protocol/imap/imap-write.h"
#include "common/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	uint32_t bits;
} fetch_atoms[] = {
	{"FLAGS", IMAP_FETCH_FLAGS},
	{"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
	{"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
	{"ENVELOPE", IMAP_FETCH_ENVELOPE},
	{"BODY", IMAP_FETCH_BODY},
	{"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
	{"UID", IMAP_FETCH_UID},
	{"MODSEQ", IMAP_FETCH_MODSEQ},
	{"RFC822", IMAP_FETCH_RFC822},
	{"RFC822.HEADER", IMAP_FETCH_RFC822_HEADER},
	{"RFC822.TEXT", IMAP_FETCH_RFC822_TEXT},
};

#define FETCH_FAST (IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE)
#define FETCH_ALL (FETCH_FAST | IMAP_FETCH_ENVELOPE)
#define FETCH_FULL (FETCH_ALL | IMAP_FETCH_BODY)

void imap_fetch_free(struct imap_fetch *f)
{
	imap_seqset_free(&f->set);
	for (size_t i = 0; i < f->section_count; i++)
		free(f->sections[i].fields);
	free(f->sections);
	memset(f, 0, sizeof(*f));
}

static bool eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static bool header_name_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)s[i] <= 0x20 || (uint8_t)s[i] >= 0x7f || s[i] == ':')
			return false;
	return true;
}

/* "1.2.HEADER.FIELDS" -> parts + text kind */
static int parse_spec(struct imap_fetch_section *sec, const char *s, size_t len, const char **error_r)
{
	size_t pos = 0;
	while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
		size_t e = pos;
		while (e < len && s[e] >= '0' && s[e] <= '9')
			e++;
		uint32_t n;
		if (imap_parse_number(s + pos, e - pos, &n) < 0 || n == 0 || s[pos] == '0') {
			*error_r = "Invalid section part number";
			return TJ_EINVAL;
		}
		if (sec->part_count >= IMAP_FETCH_MAX_PART_DEPTH) {
			*error_r = "Section nested too deeply";
			return TJ_EINVAL;
		}
		sec->part[sec->part_count++] = n;
		if (e == len) {
			pos = e;
			break;
		}
		if (s[e] != '.' || e + 1 == len) {
			*error_r = "Invalid section";
			return TJ_EINVAL;
		}
		pos = e + 1;
	}
	const char *t = s + pos;
	size_t tl = len - pos;
	if (tl == 0)
		sec->text = IMAP_SECT_ALL;
	else if (eq(t, tl, "HEADER"))
		sec->text = IMAP_SECT_HEADER;
	else if (eq(t, tl, "HEADER.FIELDS"))
		sec->text = IMAP_SECT_HEADER_FIELDS;
	else if (eq(t, tl, "HEADER.FIELDS.NOT"))
		sec->text = IMAP_SECT_HEADER_FIELDS_NOT;
	else if (eq(t, tl, "TEXT"))
		sec->text = IMAP_SECT_TEXT;
	else if (eq(t, tl, "MIME") && sec->part_count > 0)
		sec->text = IMAP_SECT_MIME;
	else {
		*error_r = "Invalid section";
		return TJ_EINVAL;
	}
	if (sec->kind != IMAP_SECTION_BODY && sec->text != IMAP_SECT_ALL) {
		*error_r = "BINARY takes only part numbers";
		return TJ_EINVAL;
	}
	return 0;
}

static int parse_partial(struct imap_fetch_section *sec, const char *s, size_t len, const char **error_r)
{
	const char *dot = memchr(s, '.', len);
	uint32_t off, cnt;
	if (!dot || imap_parse_number(s, (size_t)(dot - s), &off) < 0 ||
	    imap_parse_number(dot + 1, len - (size_t)(dot - s) - 1, &cnt) < 0 || cnt == 0) {
		*error_r = "Invalid partial";
		return TJ_EINVAL;
	}
	sec->has_partial = true;
	sec->partial_offset = off;
	sec->partial_count = cnt;
	return 0;
}

static int parse_section(struct imap_fetch *f, const struct imap_arg *a, const char **error_r)
{
	struct imap_fetch_section sec;
	memset(&sec, 0, sizeof(sec));
	if (eq(a->str, a->len, "BODY") || eq(a->str, a->len, "BODY.PEEK")) {
		sec.kind = IMAP_SECTION_BODY;
	} else if (eq(a->str, a->len, "BINARY") || eq(a->str, a->len, "BINARY.PEEK")) {
		sec.kind = IMAP_SECTION_BINARY;
	} else if (eq(a->str, a->len, "BINARY.SIZE")) {
		sec.kind = IMAP_SECTION_BINARY_SIZE;
	} else {
		*error_r = "Invalid fetch attribute";
		return TJ_EINVAL;
	}
	sec.peek = a->len > 5 && strncasecmp(a->str + a->len - 5, ".PEEK", 5) == 0;
	int rc;
	if (a->count > 0) {
		if (a->list[0].type != IMAP_ARG_ATOM) {
			*error_r = "Invalid section";
			return TJ_EINVAL;
		}
		if ((rc = parse_spec(&sec, a->list[0].str, a->list[0].len, error_r)) < 0)
			return rc;
	}
	bool want_fields = sec.text == IMAP_SECT_HEADER_FIELDS || sec.text == IMAP_SECT_HEADER_FIELDS_NOT;
	if (a->count > 2 || (a->count == 2) != want_fields) {
		*error_r = want_fields ? "HEADER.FIELDS needs a list of header names" : "Invalid section";
		return TJ_EINVAL;
	}
	if (want_fields) {
		const struct imap_arg *l = &a->list[1];
		if (l->type != IMAP_ARG_LIST || l->count == 0 || l->count > IMAP_FETCH_MAX_FIELDS) {
			*error_r = "HEADER.FIELDS needs a list of header names";
			return TJ_EINVAL;
		}
		for (size_t i = 0; i < l->count; i++) {
			const char *s;
			size_t n;
			if (imap_arg_get_astring(&l->list[i], &s, &n) < 0 || !header_name_valid(s, n)) {
				*error_r = "Invalid header field name";
				return TJ_EINVAL;
			}
		}
		/* allocated last, so earlier errors leak nothing */
	}
	if (a->has_partial) {
		if (sec.kind == IMAP_SECTION_BINARY_SIZE) {
			*error_r = "BINARY.SIZE takes no partial";
			return TJ_EINVAL;
		}
		if ((rc = parse_partial(&sec, a->partial, a->partial_len, error_r)) < 0)
			return rc;
	}
	if (f->section_count >= IMAP_FETCH_MAX_SECTIONS) {
		*error_r = "Too many sections";
		return TJ_EINVAL;
	}
	if (want_fields) {
		const struct imap_arg *l = &a->list[1];
		sec.fields = malloc(l->count * sizeof(*sec.fields));
		if (!sec.fields)
			return -ENOMEM;
		for (size_t i = 0; i < l->count; i++)
			sec.fields[i] = l->list[i].str;
		sec.field_count = l->count;
	}
	struct imap_fetch_section *ns = realloc(f->sections, (f->section_count + 1) * sizeof(*ns));
	if (!ns) {
		free(sec.fields);
		return -ENOMEM;
	}
	f->sections = ns;
	f->sections[f->section_count++] = sec;
	return 0;
}

static int parse_att(struct imap_fetch *f, const struct imap_arg *a, const char **error_r)
{
	if (a->type == IMAP_ARG_SECTION)
		return parse_section(f, a, error_r);
	if (a->type == IMAP_ARG_ATOM) {
		for (size_t i = 0; i < sizeof(fetch_atoms) / sizeof(fetch_atoms[0]); i++) {
			if (eq(a->str, a->len, fetch_atoms[i].name)) {
				f->items |= fetch_atoms[i].bits;
				return 0;
			}
		}
	}
	*error_r = "Invalid fetch attribute";
	return TJ_EINVAL;
}

static int parse_modifiers(struct imap_fetch *f, const struct imap_arg *a, bool uid, const char **error_r)
{
	if (a->type != IMAP_ARG_LIST || a->count == 0) {
		*error_r = "Invalid fetch modifiers";
		return TJ_EINVAL;
	}
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *m = &a->list[i];
		if (imap_arg_is_atom(m, "CHANGEDSINCE") && !f->has_changedsince) {
			if (i + 1 >= a->count || imap_arg_get_number64(&m[1], &f->changedsince) < 0) {
				*error_r = "CHANGEDSINCE needs a mod-sequence";
				return TJ_EINVAL;
			}
			f->has_changedsince = true;
			i++;
		} else if (imap_arg_is_atom(m, "VANISHED") && !f->vanished) {
			f->vanished = true;
		} else {
			*error_r = "Invalid fetch modifier";
			return TJ_EINVAL;
		}
	}
	if (f->vanished && (!uid || !f->has_changedsince)) {
		*error_r = "VANISHED needs UID FETCH and CHANGEDSINCE";
		return TJ_EINVAL;
	}
	if (f->has_changedsince)
		f->items |= IMAP_FETCH_MODSEQ;
	return 0;
}

int imap_fetch_parse(struct imap_fetch *f, const struct imap_arg *args, size_t argc, bool uid,
		     const char **error_r)
{
	imap_fetch_free(f);
	int rc;
	if (argc < 2 || argc > 3) {
		*error_r = "FETCH needs a sequence set and attributes";
		return TJ_EINVAL;
	}
	if (args[0].type != IMAP_ARG_ATOM ||
	    (rc = imap_seqset_parse(&f->set, args[0].str, args[0].len)) == TJ_EINVAL ||
	    rc == TJ_ETOOBIG) {
		*error_r = "Invalid sequence set";
		return TJ_EINVAL;
	}
	if (rc < 0)
		return rc;
	const struct imap_arg *a = &args[1];
	if (imap_arg_is_atom(a, "ALL")) {
		f->items = FETCH_ALL;
	} else if (imap_arg_is_atom(a, "FAST")) {
		f->items = FETCH_FAST;
	} else if (imap_arg_is_atom(a, "FULL")) {
		f->items = FETCH_FULL;
	} else if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0) {
			*error_r = "Empty fetch attribute list";
			return TJ_EINVAL;
		}
		for (size_t i = 0; i < a->count; i++)
			if ((rc = parse_att(f, &a->list[i], error_r)) < 0)
				return rc;
	} else if ((rc = parse_att(f, a, error_r)) < 0) {
		return rc;
	}
	if (argc == 3 && (rc = parse_modifiers(f, &args[2], uid, error_r)) < 0)
		return rc;
	if (uid)
		f->items |= IMAP_FETCH_UID;
	return 0;
}

int imap_fetch_section_write(tj_buf *b, const struct imap_fetch_section *s)
{
	static const char *const texts[] = {
		[IMAP_SECT_ALL] = "", [IMAP_SECT_HEADER] = "HEADER",
		[IMAP_SECT_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAP_SECT_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_SECT_TEXT] = "TEXT", [IMAP_SECT_MIME] = "MIME",
	};
	const char *name = s->kind == IMAP_SECTION_BODY ? "BODY[" :
			   s->kind == IMAP_SECTION_BINARY ? "BINARY[" : "BINARY.SIZE[";
	int rc = tj_buf_puts(b, name);
	for (size_t i = 0; i < s->part_count && rc == 0; i++)
		rc = tj_buf_printf(b, "%s%" PRIu32, i ? "." : "", s->part[i]);
	if (rc == 0 && s->text != IMAP_SECT_ALL)
		rc = tj_buf_printf(b, "%s%s", s->part_count ? "." : "", texts[s->text]);
	if (rc == 0 && s->field_count) {
		rc = tj_buf_puts(b, " (");
		for (size_t i = 0; i < s->field_count && rc == 0; i++) {
			if (i)
				rc = tj_buf_putc(b, ' ');
			if (rc == 0)
				rc = imap_write_astring(b, s->fields[i], strlen(s->fields[i]), 0);
		}
		if (rc == 0)
			rc = tj_buf_putc(b, ')');
	}
	if (rc == 0)
		rc = tj_buf_putc(b, ']');
	if (rc == 0 && s->has_partial)
		rc = tj_buf_printf(b, "<%" PRIu32 ">", s->partial_offset);
	return rc;
}
