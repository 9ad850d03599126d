/*
 * cmd-store.c - STORE and UID STORE (+FLAGS, -FLAGS, FLAGS, .SILENT,
 * UNCHANGEDSINCE -> [MODIFIED]), EXPUNGE and UID EXPUNGE.
 *
 * Each is one store op over the UIDs the client's set named; the op's
 * resolved ranges say what actually changed.  Messages are read with one
 * cursor walk (tj_store_msgs_get), never one lookup each.  The session
 * reports its own changes itself and then advances its MODSEQ past them
 * (imap_after_write), so they are not reported twice.
 */
#include "node/imap/imap-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/imap/imap-store.h"
#include "protocol/imap/imap-write.h"

/* keyword_slices - the parser's keyword strings as op slices */
static int keyword_slices(const struct imap_flags *fl, tj_slice *out, uint32_t *n_r)
{
	if (fl->count > TJ_OP_MAX_KEYWORDS)
		return TJ_ETOOBIG;
	for (size_t i = 0; i < fl->count; i++)
		out[i] = (tj_slice){(const uint8_t *)fl->keywords[i], strlen(fl->keywords[i])};
	*n_r = (uint32_t)fl->count;
	return 0;
}

/* CONDSTORE's UNCHANGEDSINCE: which messages may change, which may not */
struct guard_ctx {
	const struct imap_store *st;
	const struct imap_uids *idx;
	bool uid_cmd;
	uint32_t *target, *tk; /* UIDs allowed to change, and their indexes */
	size_t nt;
	struct imap_uids *modified;
};

static int guard_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct guard_ctx *g = arg;
	if (m->modseq > g->st->unchangedsince)
		return imap_uids_add(g->modified, g->uid_cmd ? m->uid : g->idx->v[i] + 1);
	g->target[g->nt] = m->uid;
	g->tk[g->nt++] = g->idx->v[i];
	return 0;
}

/* the untagged FETCH of each message in the set, after the change */
struct reply_ctx {
	imap_session *s;
	const tj_mbox_info *mb;
	const uint32_t *tk; /* message indexes of the UIDs walked, or NULL: look up */
	bool uid_cmd, modseq_only;
};

static int reply_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct reply_ctx *c = arg;
	imap_session *s = c->s;
	long k = c->tk ? (long)c->tk[i] : imap_uids_find(&s->uids, m->uid);
	if (k < 0)
		return 0;
	if (c->modseq_only) {
		/* .SILENT with CONDSTORE: the new MODSEQ of what changed (RFC 7162 3.1.3) */
		imap_fetch_begin(s, (uint32_t)k + 1);
		if ((c->uid_cmd && (tj_buf_append(&s->out, "UID ", 4) || imap_put_num(&s->out, m->uid) ||
				    tj_buf_putc(&s->out, ' '))) ||
		    tj_buf_append(&s->out, "MODSEQ (", 8) || imap_put_num(&s->out, m->modseq) ||
		    tj_buf_append(&s->out, "))\r\n", 4))
			s->out_err = true;
	} else {
		imap_flags_line(s, (uint32_t)k + 1, c->uid_cmd, c->mb, m, s->condstore);
	}
	if (s->out.len > IMAP_OUT_FLUSH)
		imap_flush(s);
	return 0;
}

void cmd_store(imap_session *s, const struct imap_command *cmd)
{
	bool uid = cmd->kind == IMAP_CMD_UID_STORE;
	struct imap_store st = IMAP_STORE_INIT;
	struct imap_uids idx = {0}, modified = {0}, changed = {0};
	uint32_t *uids = NULL, *target = NULL, *tk = NULL;
	size_t nt = 0;
	tj_slice kw[TJ_OP_MAX_KEYWORDS];
	uint32_t nkw = 0;
	const char *err = NULL;
	tj_rtxn *r = NULL;
	tj_range *ranges = NULL;
	bool bad;
	int rc = imap_store_parse(&st, cmd->args, cmd->argc, &err);
	if (rc) {
		if (rc == TJ_EINVAL)
			imap_bad(s, cmd, err ? err : "Invalid STORE arguments.");
		else
			s->out_err = true;
		goto out;
	}
	if (s->readonly) {
		imap_tagged(s, cmd, "NO", "Mailbox is read-only.");
		goto out;
	}
	if ((rc = imap_sel_resolve(s, &st.set, uid, &idx, &bad))) {
		s->out_err = true;
		goto out;
	}
	if (bad) {
		imap_bad(s, cmd, "Invalid message number.");
		goto out;
	}
	if (keyword_slices(&st.flags, kw, &nkw)) {
		imap_tagged(s, cmd, "NO", "[LIMIT] Too many keywords.");
		goto out;
	}
	if (st.has_unchangedsince)
		s->condstore = true;
	if ((rc = imap_uids_at(s, &idx, &uids)))
		goto fail;
	/* the set: every UID the client named (the store skips those expunged
	 * meanwhile), or with UNCHANGEDSINCE those not changed since */
	target = uids;
	nt = idx.n;
	if (st.has_unchangedsince && idx.n) {
		struct guard_ctx g = {&st, &idx, uid, NULL, NULL, 0, &modified};
		g.target = malloc(idx.n * sizeof(uint32_t));
		g.tk = malloc(idx.n * sizeof(uint32_t));
		target = g.target;
		tk = g.tk;
		if (!g.target || !g.tk) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = tj_rtxn_begin(s->cfg.store, &r)) ||
		    (rc = tj_store_msgs_get(r, s->mbox_id, uids, idx.n, guard_fn, &g)))
			goto fail;
		tj_rtxn_end(&r);
		nt = g.nt;
	}
	if (nt) {
		uint32_t nr;
		if ((rc = imap_uids_to_ranges(target, nt, &ranges, &nr)))
			goto fail;
		static const uint8_t modes[] = {[IMAP_STORE_REPLACE] = TJ_FLAGS_SET, [IMAP_STORE_ADD] = TJ_FLAGS_ADD,
						[IMAP_STORE_REMOVE] = TJ_FLAGS_REMOVE};
		tj_op op = {.type = TJ_OP_STORE, .user_id = s->user_id, .mbox_id = s->mbox_id,
			    .mode = modes[st.mode], .sys_flags = imap_flags_to_store(st.flags.system),
			    .keywords = kw, .nkeywords = nkw, .ranges = ranges, .nranges = nr,
			    .unchangedsince = st.has_unchangedsince ? st.unchangedsince : 0};
		rc = tj_store_exec(s->cfg.store, &op, NULL);
		if (!rc && op.nranges)
			imap_after_write(s, s->mbox_id, op.modseq - 1, op.modseq);
		for (uint32_t i = 0; !rc && st.silent && s->condstore && i < op.nranges; i++)
			for (uint64_t u = op.ranges[i].lo; !rc && u <= op.ranges[i].hi; u++)
				rc = imap_uids_add(&changed, (uint32_t)u);
		tj_op_clear(&op);
		if (rc)
			goto fail;
	}
	tj_mbox_info mb;
	if ((rc = tj_rtxn_begin(s->cfg.store, &r)) || (rc = tj_store_mbox_get(r, s->mbox_id, &mb)))
		goto fail;
	struct reply_ctx rc_changed = {s, &mb, NULL, uid, true};
	if (changed.n && (rc = tj_store_msgs_get(r, s->mbox_id, changed.v, changed.n, reply_fn, &rc_changed)))
		goto fail;
	struct reply_ctx rc_all = {s, &mb, tk ? tk : idx.v, uid, false};
	if (!st.silent && nt && (rc = tj_store_msgs_get(r, s->mbox_id, target, nt, reply_fn, &rc_all)))
		goto fail;
	tj_rtxn_end(&r);
	if (modified.n) {
		imap_printf(s, "%s OK [MODIFIED ", cmd->tag);
		imap_write_uids(&s->out, modified.v, modified.n);
		imap_printf(s, "] Conditional STORE failed.\r\n");
	} else {
		imap_tagged(s, cmd, "OK", "Store completed.");
	}
	goto out;
fail:
	imap_store_error(s, cmd, rc, NULL);
out:
	tj_rtxn_end(&r);
	free(ranges);
	if (target != uids)
		free(target);
	free(tk);
	free(uids);
	imap_store_free(&st);
	imap_uids_free(&idx);
	imap_uids_free(&modified);
	imap_uids_free(&changed);
}

struct exp_ctx {
	imap_session *s;
	const struct imap_seqset *set; /* UID EXPUNGE */
	uint32_t max;
	struct imap_uids v;
};

static int exp_fn(void *arg, const tj_msg_info *m)
{
	struct exp_ctx *c = arg;
	if (!(m->sys_flags & TJ_F_DELETED) || imap_uids_find(&c->s->uids, m->uid) < 0)
		return 0;
	if (c->set && !imap_seqset_contains(c->set, m->uid, c->max))
		return 0;
	return imap_uids_add(&c->v, m->uid);
}

void cmd_expunge(imap_session *s, const struct imap_command *cmd)
{
	bool uid = cmd->kind == IMAP_CMD_UID_EXPUNGE;
	struct imap_seqset set = IMAP_SEQSET_INIT;
	struct exp_ctx c = {.s = s};
	struct imap_uids gone = {0};
	tj_range *ranges = NULL;
	int rc = 0;
	if (uid) {
		if (cmd->argc != 1 || cmd->args[0].type != IMAP_ARG_ATOM ||
		    imap_seqset_parse(&set, cmd->args[0].str, cmd->args[0].len)) {
			imap_bad(s, cmd, "UID EXPUNGE takes a UID set.");
			goto out;
		}
		c.set = &set;
		c.max = s->uids.n ? s->uids.v[s->uids.n - 1] : 0;
	} else if (cmd->argc) {
		imap_bad(s, cmd, "EXPUNGE takes no arguments.");
		goto out;
	}
	if (s->readonly) {
		imap_tagged(s, cmd, "NO", "Mailbox is read-only.");
		goto out;
	}
	tj_rtxn *r;
	if ((rc = tj_rtxn_begin(s->cfg.store, &r)))
		goto fail;
	rc = tj_store_msgs(r, s->mbox_id, 1, UINT32_MAX, exp_fn, &c);
	tj_rtxn_end(&r);
	if (rc)
		goto fail;
	if (c.v.n) {
		uint32_t nr;
		if ((rc = imap_uids_to_ranges(c.v.v, c.v.n, &ranges, &nr)))
			goto fail;
		tj_op op = {.type = TJ_OP_EXPUNGE, .user_id = s->user_id, .mbox_id = s->mbox_id, .ranges = ranges,
			    .nranges = nr};
		rc = tj_store_exec(s->cfg.store, &op, NULL);
		for (uint32_t i = 0; !rc && i < op.nranges; i++)
			for (uint64_t u = op.ranges[i].lo; !rc && u <= op.ranges[i].hi; u++)
				rc = imap_uids_add(&gone, (uint32_t)u);
		if (!rc && op.nranges) {
			imap_expunged(s, gone.v, gone.n);
			imap_after_write(s, s->mbox_id, op.modseq - 1, op.modseq);
		}
		tj_op_clear(&op);
		if (rc)
			goto fail;
	}
	if (s->condstore)
		imap_tagged(s, cmd, "OK", "[HIGHESTMODSEQ %llu] Expunge completed.", (unsigned long long)s->modseq);
	else
		imap_tagged(s, cmd, "OK", "Expunge completed.");
	goto out;
fail:
	imap_store_error(s, cmd, rc, NULL);
out:
	free(ranges);
	imap_seqset_free(&set);
	imap_uids_free(&c.v);
	imap_uids_free(&gone);
}
