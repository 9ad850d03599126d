/*
 * cmd-copy.c - COPY, MOVE, UID COPY, UID MOVE with COPYUID (UIDPLUS).
 *
 * One COPY or MOVE op: the store adds index entries only (single-instance
 * storage).  The op comes back resolved with the source UIDs it took and
 * the first destination UID; destination UIDs are consecutive.
 *
 * Moving or copying mail into \Junk, or out of \Junk into anything but
 * \Trash, is the user's verdict: the messages are handed to the spam
 * learner (cfg.learn), as Dovecot's antispam plugin or IMAPSieve do.
 */
#include "node/imap/imap-private.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "protocol/imap/imap-write.h"

/* learn_filed - tell the learner about messages the user just filed into
 * `to` (their destination UIDs).  Best effort: an error here is logged, the
 * command has already succeeded. */
static void learn_filed(imap_session *s, const tj_mbox_info *to, const uint32_t *uids, size_t n)
{
	if (!s->cfg.learn || !n)
		return;
	tj_rtxn *r;
	tj_mbox_info from;
	uint8_t(*guids)[TJ_GUID_LEN] = NULL;
	size_t ng = 0;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		goto out;
	rc = tj_store_mbox_get(r, s->mbox_id, &from);
	bool spam = to->special_use & TJ_SU_JUNK;
	bool ham = !rc && (from.special_use & TJ_SU_JUNK) && !(to->special_use & (TJ_SU_JUNK | TJ_SU_TRASH));
	if (!rc && (spam || ham)) {
		guids = malloc(n * sizeof(*guids));
		rc = guids ? 0 : -ENOMEM;
		for (size_t i = 0; !rc && i < n; i++) {
			tj_msg_info mi;
			int grc = tj_store_msg_get(r, to->id, uids[i], &mi);
			if (grc == 0)
				memcpy(guids[ng++], mi.guid, TJ_GUID_LEN);
			else if (grc != TJ_ENOTFOUND) /* already moved on by another session */
				rc = grc;
		}
	}
	tj_rtxn_end(&r);
	if (!rc && ng)
		s->cfg.learn(s->cfg.learn_ctx, s->user_id, (const uint8_t(*)[TJ_GUID_LEN])guids, ng, spam);
out:
	if (rc)
		tj_log(TJ_LOG_WARN, "imap", "event=learn_skipped user_id=%u messages=%zu error=\"%s\"", s->user_id, n,
		       tj_strerror(rc));
	free(guids);
}

void cmd_copy(imap_session *s, const struct imap_command *cmd)
{
	bool uid = cmd->kind == IMAP_CMD_UID_COPY || cmd->kind == IMAP_CMD_UID_MOVE;
	bool move = cmd->kind == IMAP_CMD_MOVE || cmd->kind == IMAP_CMD_UID_MOVE;
	struct imap_seqset set = IMAP_SEQSET_INIT;
	struct imap_uids idx = {0}, src = {0}, dst = {0};
	tj_buf name = TJ_BUF_INIT;
	tj_range *ranges = NULL;
	const char *mbox;
	size_t mlen;
	bool bad;
	int rc;
	if (cmd->argc != 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(&set, cmd->args[0].str, cmd->args[0].len) ||
	    imap_arg_get_mailbox(&cmd->args[1], &mbox, &mlen)) {
		imap_bad(s, cmd, move ? "MOVE takes a message set and a mailbox." : "COPY takes a message set and a mailbox.");
		goto out;
	}
	if ((rc = imap_sel_resolve(s, &set, uid, &idx, &bad))) {
		s->out_err = true;
		goto out;
	}
	if (bad) {
		imap_bad(s, cmd, "Invalid message number.");
		goto out;
	}
	if (move && s->readonly) {
		imap_tagged(s, cmd, "NO", "Mailbox is read-only.");
		goto out;
	}
	tj_mbox_info to;
	if ((rc = imap_find_target(s, cmd, mbox, mlen, &name, &to)) == 1)
		goto out;
	if (rc)
		goto fail;
	if (move && to.id == s->mbox_id) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Can't move into the same mailbox.");
		goto out;
	}
	for (size_t i = 0; i < idx.n; i++)
		idx.v[i] = s->uids.v[idx.v[i]]; /* message numbers -> UIDs, still ascending */
	uint32_t nr = 0;
	if (idx.n && (rc = imap_uids_to_ranges(idx.v, idx.n, &ranges, &nr)))
		goto fail;
	tj_op op = {.type = move ? TJ_OP_MOVE : TJ_OP_COPY, .user_id = s->user_id, .mbox_id = s->mbox_id,
		    .mbox_id2 = to.id, .ranges = ranges, .nranges = nr};
	rc = nr ? tj_store_exec(s->cfg.store, &op, NULL) : 0;
	for (uint32_t i = 0; !rc && nr && i < op.nranges; i++)
		for (uint64_t u = op.ranges[i].lo; !rc && u <= op.ranges[i].hi; u++) {
			rc = imap_uids_add(&src, (uint32_t)u);
			if (!rc)
				rc = imap_uids_add(&dst, op.uid + (uint32_t)(src.n - 1));
		}
	uint64_t modseq = op.modseq, modseq2 = op.modseq2;
	tj_op_clear(&op);
	if (rc)
		goto fail;
	if (src.n == 0) {
		imap_tagged(s, cmd, "OK", "No messages found.");
		goto out;
	}
	imap_notify_changed(s->cfg.notify, to.id, modseq, s);
	learn_filed(s, &to, dst.v, dst.n);
	tj_buf code = TJ_BUF_INIT;
	tj_buf_printf(&code, "COPYUID %u ", to.uidvalidity);
	imap_write_uids(&code, src.v, src.n);
	tj_buf_puts(&code, " ");
	imap_write_uids(&code, dst.v, dst.n);
	if (move) {
		imap_printf(s, "* OK [%s] Moved UIDs.\r\n", (char *)code.data);
		imap_expunged(s, src.v, src.n);
		imap_after_write(s, s->mbox_id, modseq2 - 1, modseq2);
		imap_tagged(s, cmd, "OK", "Move completed.");
	} else {
		imap_tagged(s, cmd, "OK", "[%s] Copy completed.", (char *)code.data);
	}
	tj_buf_free(&code);
	goto out;
fail:
	imap_store_error(s, cmd, rc, NULL);
out:
	free(ranges);
	imap_seqset_free(&set);
	imap_uids_free(&idx);
	imap_uids_free(&src);
	imap_uids_free(&dst);
	tj_buf_free(&name);
}
