/*
 * cmd-select.c - SELECT, EXAMINE (with CONDSTORE and QRESYNC parameters),
 * CLOSE and UNSELECT.
 *
 * Selecting reads the mailbox's UIDs in one snapshot into the session's
 * own list and registers with the notifier; the HIGHESTMODSEQ of that
 * snapshot is where imap_sync() continues from.
 */
#include "node/imap/imap-private.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-select.h"
#include "protocol/imap/imap-write.h"

struct sel_ctx {
	imap_session *s;
	uint32_t first_unseen; /* message number */
	int err;
};

static int sel_fn(void *arg, const tj_msg_info *m)
{
	struct sel_ctx *c = arg;
	int rc = imap_uids_add(&c->s->uids, m->uid);
	if (!rc && !c->first_unseen && !(m->sys_flags & TJ_F_SEEN))
		c->first_unseen = (uint32_t)c->s->uids.n;
	return rc;
}

struct qr_ctx {
	imap_session *s;
	const struct imap_select *sel;
	struct imap_uids v;
};

static int qr_vanished_fn(void *arg, uint32_t uid, uint64_t modseq)
{
	struct qr_ctx *c = arg;
	(void)modseq;
	if (c->sel->has_known_uids && !imap_seqset_contains(&c->sel->known_uids, uid, UINT32_MAX))
		return 0;
	return imap_uids_add(&c->v, uid);
}

static int qr_changed_fn(void *arg, const tj_msg_info *m)
{
	struct qr_ctx *c = arg;
	return imap_uids_add(&c->v, m->uid);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct qr_fetch {
	imap_session *s;
	const tj_mbox_info *mb;
};

static int qr_fetch_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct qr_fetch *f = arg;
	long idx = imap_uids_find(&f->s->uids, m->uid);
	if (idx >= 0)
		imap_flags_line(f->s, (uint32_t)idx + 1, true, f->mb, m, true);
	return 0;
}

/* qresync - VANISHED (EARLIER) and FETCH for what changed since the
 * client's (uidvalidity, modseq) */
static int qresync(imap_session *s, tj_rtxn *r, const tj_mbox_info *mb, const struct imap_select *sel)
{
	struct qr_ctx c = {.s = s, .sel = sel};
	int rc = tj_store_vanished_since(r, mb->id, sel->modseq, qr_vanished_fn, &c);
	if (!rc && c.v.n) {
		qsort(c.v.v, c.v.n, sizeof(uint32_t), cmp_u32);
		imap_printf(s, "* VANISHED (EARLIER) ");
		imap_write_uids(&s->out, c.v.v, c.v.n);
		imap_printf(s, "\r\n");
	}
	c.v.n = 0;
	if (!rc)
		rc = tj_store_changed_since(r, mb->id, sel->modseq, qr_changed_fn, &c);
	if (!rc)
		qsort(c.v.v, c.v.n, sizeof(uint32_t), cmp_u32);
	struct qr_fetch f = {s, mb};
	if (!rc)
		rc = tj_store_msgs_get(r, mb->id, c.v.v, c.v.n, qr_fetch_fn, &f);
	imap_uids_free(&c.v);
	return rc;
}

static void write_flag_names(imap_session *s, const tj_mbox_info *mb)
{
	imap_printf(s, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (uint32_t i = 0; i < mb->nkeywords; i++)
		imap_printf(s, " %.*s", (int)mb->keywords[i].len, (const char *)mb->keywords[i].ptr);
}

static void select_run(imap_session *s, const struct imap_command *cmd, bool readonly)
{
	struct imap_select sel = IMAP_SELECT_INIT;
	const char *err = NULL;
	tj_buf name = TJ_BUF_INIT;
	tj_rtxn *r = NULL;
	int rc = imap_select_parse(&sel, cmd->args, cmd->argc, &err);
	if (rc) {
		if (rc == TJ_EINVAL)
			imap_bad(s, cmd, err ? err : "Invalid SELECT arguments.");
		else
			s->out_err = true;
		goto out;
	}
	if (sel.qresync && !s->qresync) {
		imap_bad(s, cmd, "QRESYNC is not enabled.");
		goto out;
	}
	/* leaving the old mailbox first, whatever happens next (RFC 3501 6.3.1) */
	if (s->state == IMAP_ST_SELECTED) {
		imap_unselect(s);
		if (s->qresync)
			imap_printf(s, "* OK [CLOSED] Previous mailbox closed.\r\n");
	}
	if (imap_mbox_decode(sel.mailbox, sel.mailbox_len, &name)) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name.");
		goto out;
	}
	tj_mbox_info mb;
	if ((rc = tj_rtxn_begin(s->cfg.store, &r)) ||
	    (rc = tj_store_mbox_find(r, s->user_id, (char *)name.data, &mb))) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	struct sel_ctx c = {.s = s};
	if ((rc = tj_store_msgs(r, mb.id, 1, UINT32_MAX, sel_fn, &c))) {
		imap_uids_free(&s->uids);
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	if (sel.condstore)
		s->condstore = true;
	s->state = IMAP_ST_SELECTED;
	s->mbox_id = mb.id;
	s->readonly = readonly;
	s->uidvalidity = mb.uidvalidity;
	s->modseq = mb.highestmodseq;
	imap_watch(s, mb.id);

	imap_printf(s, "* FLAGS (");
	write_flag_names(s, &mb);
	imap_printf(s, ")\r\n* OK [PERMANENTFLAGS (");
	if (!readonly) {
		write_flag_names(s, &mb);
		imap_printf(s, " \\*");
	}
	imap_printf(s, ")] Flags permitted.\r\n");
	imap_printf(s, "* %zu EXISTS\r\n* 0 RECENT\r\n", s->uids.n);
	if (c.first_unseen)
		imap_printf(s, "* OK [UNSEEN %u] First unseen.\r\n", c.first_unseen);
	imap_printf(s, "* OK [UIDVALIDITY %u] UIDs valid.\r\n", mb.uidvalidity);
	imap_printf(s, "* OK [UIDNEXT %u] Predicted next UID.\r\n", mb.uidnext);
	imap_printf(s, "* OK [HIGHESTMODSEQ %llu] Highest.\r\n", (unsigned long long)mb.highestmodseq);
	if (sel.qresync && sel.uidvalidity == mb.uidvalidity && (rc = qresync(s, r, &mb, &sel))) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	imap_tagged(s, cmd, "OK", "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
		    readonly ? "Examine" : "Select");
out:
	tj_rtxn_end(&r);
	imap_select_free(&sel);
	tj_buf_free(&name);
}

void cmd_select(imap_session *s, const struct imap_command *cmd)
{
	select_run(s, cmd, false);
}

void cmd_examine(imap_session *s, const struct imap_command *cmd)
{
	select_run(s, cmd, true);
}

/* expunge_deleted - remove every \Deleted message (CLOSE): no responses */
static int expunge_deleted(imap_session *s);

void cmd_close(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "CLOSE takes no arguments.");
		return;
	}
	if (!s->readonly)
		(void)expunge_deleted(s);
	imap_unselect(s);
	imap_tagged(s, cmd, "OK", "Close completed.");
}

void cmd_unselect(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "UNSELECT takes no arguments.");
		return;
	}
	imap_unselect(s);
	imap_tagged(s, cmd, "OK", "Unselect completed.");
}

struct del_ctx {
	struct imap_uids v;
};

static int del_fn(void *arg, const tj_msg_info *m)
{
	struct del_ctx *c = arg;
	return (m->sys_flags & TJ_F_DELETED) ? imap_uids_add(&c->v, m->uid) : 0;
}

static int expunge_deleted(imap_session *s)
{
	struct del_ctx c = {{0}};
	tj_rtxn *r;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		return rc;
	rc = tj_store_msgs(r, s->mbox_id, 1, UINT32_MAX, del_fn, &c);
	tj_rtxn_end(&r);
	if (!rc && c.v.n) {
		tj_op op = {.type = TJ_OP_EXPUNGE, .user_id = s->user_id, .mbox_id = s->mbox_id};
		tj_range *ranges;
		uint32_t nr;
		if (!(rc = imap_uids_to_ranges(c.v.v, c.v.n, &ranges, &nr))) {
			op.ranges = ranges;
			op.nranges = nr;
			rc = tj_store_exec(s->cfg.store, &op, NULL);
			if (!rc && op.nranges)
				imap_notify_changed(s->cfg.notify, s->mbox_id, op.modseq, s);
			if (op.ranges == ranges)
				op.ranges = NULL;
			tj_op_clear(&op);
			free(ranges);
		}
	}
	imap_uids_free(&c.v);
	return rc;
}
