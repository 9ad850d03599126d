/*
 * cmd-fetch.c - FETCH and UID FETCH: FLAGS, UID, INTERNALDATE, RFC822.SIZE,
 * ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial>, BODY.PEEK, RFC822,
 * RFC822.HEADER, RFC822.TEXT, MODSEQ, CHANGEDSINCE and VANISHED.
 *
 * Structure comes from the parse-once MIME cache (imap_get_mime); section
 * bytes are sliced from the stored message and sent CRLF-normalised, with
 * <partial> counted in CRLF bytes.  Fetching a non-PEEK body section sets
 * \Seen first, through one STORE op, and the reply then carries FLAGS.
 */
#include "node/imap/imap-private.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/imap/imap-date.h"
#include "protocol/imap/imap-fetch.h"
#include "protocol/imap/imap-write.h"
#include "protocol/mime/mime.h"

#define NEEDS_MIME (IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY | IMAP_FETCH_BODYSTRUCTURE)
#define NEEDS_RAW (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_HEADER | IMAP_FETCH_RFC822_TEXT)

/* section_spec - the text tj_mime_section_fetch understands */
static void section_spec(const struct imap_fetch_section *sec, tj_buf *b)
{
	tj_buf_reset(b);
	for (size_t i = 0; i < sec->part_count; i++)
		tj_buf_printf(b, "%s%u", i ? "." : "", sec->part[i]);
	const char *dot = sec->part_count ? "." : "";
	switch (sec->text) {
	case IMAP_SECT_ALL: break;
	case IMAP_SECT_HEADER: tj_buf_printf(b, "%sHEADER", dot); break;
	case IMAP_SECT_TEXT: tj_buf_printf(b, "%sTEXT", dot); break;
	case IMAP_SECT_MIME: tj_buf_printf(b, "%sMIME", dot); break;
	case IMAP_SECT_HEADER_FIELDS:
	case IMAP_SECT_HEADER_FIELDS_NOT:
		tj_buf_printf(b, "%sHEADER.FIELDS%s (", dot, sec->text == IMAP_SECT_HEADER_FIELDS_NOT ? ".NOT" : "");
		for (size_t i = 0; i < sec->field_count; i++)
			tj_buf_printf(b, "%s%s", i ? " " : "", sec->fields[i]);
		tj_buf_puts(b, ")");
		break;
	}
}

/* write_body - "NAME {n}CRLF bytes" for a section spec, with partial */
static void write_body(imap_session *s, const struct tj_mime_msg *msg, const tj_buf *raw, const char *spec,
		       bool partial, uint32_t poff, uint32_t pcount, tj_buf *tmp)
{
	tj_buf_reset(tmp);
	int rc = tj_mime_section_fetch(msg, raw->data, raw->len, spec, tmp);
	if (rc)
		tj_buf_reset(tmp); /* a part that does not exist is "" (as Dovecot) */
	size_t off = 0, n = tmp->len;
	if (partial) {
		off = poff < tmp->len ? poff : tmp->len;
		n = tmp->len - off < pcount ? tmp->len - off : pcount;
	}
	if (imap_write_literal(&s->out, tmp->data ? tmp->data + off : (const uint8_t *)"", n, false))
		s->out_err = true;
}

/* write_paren - "(text)"; the text may hold literals, so it is copied as
 * bytes, never through a format string */
static void write_paren(imap_session *s, tj_slice text)
{
	if (tj_buf_putc(&s->out, '(') || tj_buf_append(&s->out, text.ptr, text.len) || tj_buf_putc(&s->out, ')'))
		s->out_err = true;
}

struct fetch_ctx {
	imap_session *s;
	const struct imap_fetch *f;
	bool uid_cmd;
	const tj_mbox_info *mb;
	tj_buf raw, tmp, spec;
};

static int fetch_one(struct fetch_ctx *c, tj_rtxn *r, uint32_t seq, const tj_msg_info *m, bool add_flags)
{
	imap_session *s = c->s;
	const struct imap_fetch *f = c->f;
	struct tj_mime_msg *msg = NULL;
	bool need_raw = (f->items & NEEDS_RAW) || f->section_count;
	if ((f->items & NEEDS_MIME) || need_raw) {
		int rc = imap_get_mime(s, r, m->guid, &msg, need_raw ? &c->raw : NULL);
		if (rc)
			return rc;
	}
	bool with_uid = c->uid_cmd || (f->items & IMAP_FETCH_UID);
	bool with_flags = (f->items & IMAP_FETCH_FLAGS) || add_flags;
	imap_fetch_head(s, seq, with_uid, with_flags ? c->mb : NULL, m);
	const char *sep = with_uid || with_flags ? " " : "";
	if (f->items & IMAP_FETCH_INTERNALDATE) {
		imap_printf(s, "%sINTERNALDATE ", sep);
		imap_write_datetime(&s->out, m->internal_date, 0);
		sep = " ";
	}
	if (f->items & IMAP_FETCH_RFC822_SIZE) {
		imap_printf(s, "%sRFC822.SIZE %llu", sep, (unsigned long long)tj_mime_size(msg));
		sep = " ";
	}
	if (f->items & IMAP_FETCH_ENVELOPE) {
		imap_printf(s, "%sENVELOPE ", sep);
		write_paren(s, tj_mime_envelope(msg));
		sep = " ";
	}
	if (f->items & IMAP_FETCH_BODY) {
		imap_printf(s, "%sBODY ", sep);
		write_paren(s, tj_mime_body(msg));
		sep = " ";
	}
	if (f->items & IMAP_FETCH_BODYSTRUCTURE) {
		imap_printf(s, "%sBODYSTRUCTURE ", sep);
		write_paren(s, tj_mime_bodystructure(msg));
		sep = " ";
	}
	if (f->items & IMAP_FETCH_MODSEQ) {
		if (tj_buf_puts(&s->out, sep) || tj_buf_append(&s->out, "MODSEQ (", 8) ||
		    imap_put_num(&s->out, m->modseq) || tj_buf_putc(&s->out, ')'))
			s->out_err = true;
		sep = " ";
	}
	static const struct {
		uint32_t item;
		const char *name, *spec;
	} rfc822[] = {
		{IMAP_FETCH_RFC822_HEADER, "RFC822.HEADER", "HEADER"},
		{IMAP_FETCH_RFC822_TEXT, "RFC822.TEXT", "TEXT"},
		{IMAP_FETCH_RFC822, "RFC822", ""},
	};
	for (size_t i = 0; i < 3; i++) {
		if (!(f->items & rfc822[i].item))
			continue;
		imap_printf(s, "%s%s ", sep, rfc822[i].name);
		write_body(s, msg, &c->raw, rfc822[i].spec, false, 0, 0, &c->tmp);
		sep = " ";
	}
	for (size_t i = 0; i < f->section_count; i++) {
		const struct imap_fetch_section *sec = &f->sections[i];
		imap_printf(s, "%s", sep);
		imap_fetch_section_write(&s->out, sec);
		imap_printf(s, " ");
		section_spec(sec, &c->spec);
		write_body(s, msg, &c->raw, (const char *)c->spec.data ? (const char *)c->spec.data : "",
			   sec->has_partial, sec->partial_offset, sec->partial_count, &c->tmp);
		sep = " ";
	}
	if (tj_buf_append(&s->out, ")\r\n", 3))
		s->out_err = true;
	tj_mime_free(&msg);
	return 0;
}

static bool sets_seen(const struct imap_fetch *f)
{
	if (f->items & (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_TEXT))
		return true;
	for (size_t i = 0; i < f->section_count; i++)
		if (!f->sections[i].peek)
			return true;
	return false;
}

struct seen_ctx {
	const struct imap_fetch *f;
	struct imap_uids *set;
};

static int seen_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct seen_ctx *c = arg;
	if (c->f->has_changedsince && m->modseq <= c->f->changedsince)
		return 0;
	return (m->sys_flags & TJ_F_SEEN) ? 0 : imap_uids_add(c->set, m->uid);
}

/* mark_seen - STORE +FLAGS (\Seen) on the messages (uids, ascending) that
 * lack it; *set_r gets their UIDs (sorted) so the reply can include FLAGS */
static int mark_seen(imap_session *s, const struct imap_fetch *f, const uint32_t *uids, size_t n,
		     struct imap_uids *set_r)
{
	tj_rtxn *r;
	struct seen_ctx sc = {f, set_r};
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (!rc)
		rc = tj_store_msgs_get(r, s->mbox_id, uids, n, seen_fn, &sc);
	tj_rtxn_end(&r);
	if (rc || set_r->n == 0)
		return rc;
	tj_range *ranges;
	uint32_t nr;
	if ((rc = imap_uids_to_ranges(set_r->v, set_r->n, &ranges, &nr)))
		return rc;
	tj_op op = {.type = TJ_OP_STORE, .user_id = s->user_id, .mbox_id = s->mbox_id, .mode = TJ_FLAGS_ADD,
		    .sys_flags = TJ_F_SEEN, .ranges = ranges, .nranges = nr};
	rc = tj_store_exec(s->cfg.store, &op, NULL);
	if (!rc && op.nranges)
		imap_after_write(s, s->mbox_id, op.modseq - 1, op.modseq);
	tj_op_clear(&op);
	free(ranges);
	return rc;
}

/* the FETCH walk: one message at a time, in message-number order */
struct walk_ctx {
	struct fetch_ctx *c;
	tj_rtxn *r;
	const struct imap_uids *idx, *seen;
};

static int walk_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct walk_ctx *w = arg;
	imap_session *s = w->c->s;
	const struct imap_fetch *f = w->c->f;
	if (f->has_changedsince && m->modseq <= f->changedsince)
		return 0;
	int rc = fetch_one(w->c, w->r, w->idx->v[i] + 1, m, w->seen->n && imap_uids_find(w->seen, m->uid) >= 0);
	if (s->out.len > IMAP_OUT_FLUSH)
		imap_flush(s);
	return rc;
}

struct van_ctx {
	const struct imap_seqset *set;
	uint32_t max;
	struct imap_uids v;
};

static int van_fn(void *arg, uint32_t uid, uint64_t modseq)
{
	struct van_ctx *c = arg;
	(void)modseq;
	return imap_seqset_contains(c->set, uid, c->max) ? imap_uids_add(&c->v, uid) : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void cmd_fetch(imap_session *s, const struct imap_command *cmd)
{
	bool uid = cmd->kind == IMAP_CMD_UID_FETCH;
	struct imap_fetch f = IMAP_FETCH_INIT;
	struct imap_uids idx = {0}, seen = {0};
	uint32_t *uids = NULL;
	struct fetch_ctx c = {.s = s, .f = &f, .uid_cmd = uid, .raw = TJ_BUF_INIT, .tmp = TJ_BUF_INIT,
			      .spec = TJ_BUF_INIT};
	const char *err = NULL;
	tj_rtxn *r = NULL;
	bool bad;
	int rc = imap_fetch_parse(&f, cmd->args, cmd->argc, uid, &err);
	if (rc) {
		if (rc == TJ_EINVAL)
			imap_bad(s, cmd, err ? err : "Invalid FETCH arguments.");
		else
			s->out_err = true;
		goto out;
	}
	for (size_t i = 0; i < f.section_count; i++)
		if (f.sections[i].kind != IMAP_SECTION_BODY) {
			imap_bad(s, cmd, "BINARY is not supported.");
			goto out;
		}
	if (f.vanished && !s->qresync) {
		imap_bad(s, cmd, "VANISHED needs QRESYNC enabled.");
		goto out;
	}
	if ((rc = imap_sel_resolve(s, &f.set, uid, &idx, &bad))) {
		s->out_err = true;
		goto out;
	}
	if (bad) {
		imap_bad(s, cmd, "Invalid message number.");
		goto out;
	}
	if (f.items & IMAP_FETCH_MODSEQ)
		s->condstore = true;
	if ((rc = imap_uids_at(s, &idx, &uids))) {
		s->out_err = true;
		goto out;
	}
	if (!s->readonly && sets_seen(&f) && (rc = mark_seen(s, &f, uids, idx.n, &seen))) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	tj_mbox_info mb;
	if ((rc = tj_rtxn_begin(s->cfg.store, &r)) || (rc = tj_store_mbox_get(r, s->mbox_id, &mb))) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	c.mb = &mb;
	if (f.vanished) {
		struct van_ctx v = {.set = &f.set, .max = s->uids.n ? s->uids.v[s->uids.n - 1] : 0};
		if (mb.uidnext > 1)
			v.max = mb.uidnext - 1;
		rc = tj_store_vanished_since(r, s->mbox_id, f.changedsince, van_fn, &v);
		if (!rc && v.v.n) {
			qsort(v.v.v, v.v.n, sizeof(uint32_t), cmp_u32);
			imap_printf(s, "* VANISHED (EARLIER) ");
			imap_write_uids(&s->out, v.v.v, v.v.n);
			imap_printf(s, "\r\n");
		}
		imap_uids_free(&v.v);
	}
	/* messages expunged by another session, not reported yet, are skipped */
	struct walk_ctx w = {&c, r, &idx, &seen};
	if (!rc)
		rc = tj_store_msgs_get(r, s->mbox_id, uids, idx.n, walk_fn, &w);
	if (rc)
		imap_store_error(s, cmd, rc, NULL);
	else
		imap_tagged(s, cmd, "OK", "Fetch completed.");
out:
	tj_rtxn_end(&r);
	imap_fetch_free(&f);
	imap_uids_free(&idx);
	imap_uids_free(&seen);
	free(uids);
	tj_buf_free(&c.raw);
	tj_buf_free(&c.tmp);
	tj_buf_free(&c.spec);
}
