/*
 * cmd-mailbox.c - mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE and STATUS.  Names are modified UTF-7 on the wire and UTF-8
 * in the store (imap_mbox_decode); INBOX is matched in any case.
 */
#include "node/imap/imap-private.h"

#include <string.h>

#include "protocol/imap/imap-status.h"
#include "protocol/imap/imap-write.h"

/* arg_name - a mailbox argument of cmd, decoded into name.
 * Replies (BAD or NO) and returns false when it is unusable. */
static bool arg_name(imap_session *s, const struct imap_command *cmd, const struct imap_arg *arg, tj_buf *name)
{
	const char *raw;
	size_t len;
	if (imap_arg_get_mailbox(arg, &raw, &len)) {
		imap_bad(s, cmd, "Invalid mailbox name argument.");
		return false;
	}
	if (imap_mbox_decode(raw, len, name)) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name.");
		return false;
	}
	return true;
}

/* find_mbox - look up a mailbox of the session's user by store name */
static int find_mbox(imap_session *s, const char *name, tj_mbox_info *m_r)
{
	tj_rtxn *r;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		return rc;
	rc = tj_store_mbox_find(r, s->user_id, name, m_r);
	m_r->name.ptr = NULL; /* not valid after the txn */
	tj_rtxn_end(&r);
	return rc;
}

void cmd_create(imap_session *s, const struct imap_command *cmd)
{
	tj_buf name = TJ_BUF_INIT;
	if (cmd->argc != 1) {
		imap_bad(s, cmd, "CREATE takes one mailbox name.");
		return;
	}
	if (!arg_name(s, cmd, &cmd->args[0], &name))
		goto out;
	if (strcmp((char *)name.data, "INBOX") == 0) {
		imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] INBOX always exists.");
		goto out;
	}
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = s->user_id, .name = {name.data, name.len}};
	int rc = tj_store_exec(s->cfg.store, &op, NULL);
	tj_op_clear(&op);
	if (rc)
		imap_store_error(s, cmd, rc, NULL);
	else
		imap_tagged(s, cmd, "OK", "Create completed.");
out:
	tj_buf_free(&name);
}

void cmd_delete(imap_session *s, const struct imap_command *cmd)
{
	tj_buf name = TJ_BUF_INIT;
	tj_mbox_info m;
	if (cmd->argc != 1) {
		imap_bad(s, cmd, "DELETE takes one mailbox name.");
		return;
	}
	if (!arg_name(s, cmd, &cmd->args[0], &name))
		goto out;
	if (strcmp((char *)name.data, "INBOX") == 0) {
		imap_tagged(s, cmd, "NO", "[CANNOT] INBOX can't be deleted.");
		goto out;
	}
	int rc = find_mbox(s, (char *)name.data, &m);
	if (!rc) {
		tj_op op = {.type = TJ_OP_MBOX_DELETE, .user_id = s->user_id, .mbox_id = m.id};
		rc = tj_store_exec(s->cfg.store, &op, NULL);
		tj_op_clear(&op);
	}
	if (rc) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	if (s->state == IMAP_ST_SELECTED && s->mbox_id == m.id) {
		imap_unselect(s);
		if (s->qresync)
			imap_printf(s, "* OK [CLOSED] Selected mailbox was deleted.\r\n");
	}
	imap_notify_changed(s->cfg.notify, m.id, 0, s);
	imap_tagged(s, cmd, "OK", "Delete completed.");
out:
	tj_buf_free(&name);
}

void cmd_rename(imap_session *s, const struct imap_command *cmd)
{
	tj_buf from = TJ_BUF_INIT, to = TJ_BUF_INIT;
	tj_mbox_info m;
	if (cmd->argc != 2) {
		imap_bad(s, cmd, "RENAME takes two mailbox names.");
		return;
	}
	if (!arg_name(s, cmd, &cmd->args[0], &from) || !arg_name(s, cmd, &cmd->args[1], &to))
		goto out;
	if (strcmp((char *)to.data, "INBOX") == 0) {
		imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] INBOX always exists.");
		goto out;
	}
	int rc = find_mbox(s, (char *)from.data, &m);
	if (!rc) {
		tj_op op = {.type = TJ_OP_MBOX_RENAME, .user_id = s->user_id, .mbox_id = m.id,
			    .name = {to.data, to.len}};
		rc = tj_store_exec(s->cfg.store, &op, NULL);
		tj_op_clear(&op);
	}
	if (rc) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	imap_notify_changed(s->cfg.notify, m.id, 0, s);
	imap_tagged(s, cmd, "OK", "Rename completed.");
out:
	tj_buf_free(&from);
	tj_buf_free(&to);
}

static void subscribe(imap_session *s, const struct imap_command *cmd, int mode)
{
	tj_buf name = TJ_BUF_INIT;
	if (cmd->argc != 1) {
		imap_bad(s, cmd, mode ? "SUBSCRIBE takes one mailbox name." : "UNSUBSCRIBE takes one mailbox name.");
		return;
	}
	if (!arg_name(s, cmd, &cmd->args[0], &name))
		goto out;
	tj_op op = {.type = TJ_OP_SUBSCRIBE, .user_id = s->user_id, .name = {name.data, name.len},
		    .mode = (uint8_t)mode};
	int rc = tj_store_exec(s->cfg.store, &op, NULL);
	tj_op_clear(&op);
	if (rc)
		imap_store_error(s, cmd, rc, NULL);
	else
		imap_tagged(s, cmd, "OK", mode ? "Subscribe completed." : "Unsubscribe completed.");
out:
	tj_buf_free(&name);
}

void cmd_subscribe(imap_session *s, const struct imap_command *cmd)
{
	subscribe(s, cmd, 1);
}

void cmd_unsubscribe(imap_session *s, const struct imap_command *cmd)
{
	subscribe(s, cmd, 0);
}

void imap_status_write(imap_session *s, const tj_mbox_info *m, uint32_t items)
{
	imap_printf(s, "* STATUS ");
	imap_mbox_write(&s->out, m->name.ptr, m->name.len);
	imap_printf(s, " (");
	const char *sep = "";
	for (uint32_t bit = 1; bit <= IMAP_STATUS_HIGHESTMODSEQ; bit <<= 1) {
		if (!(items & bit))
			continue;
		unsigned long long v = 0;
		switch (bit) {
		case IMAP_STATUS_MESSAGES: v = m->messages; break;
		case IMAP_STATUS_RECENT: v = 0; break;
		case IMAP_STATUS_UIDNEXT: v = m->uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = m->uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = m->unseen; break;
		case IMAP_STATUS_DELETED: v = m->deleted; break;
		case IMAP_STATUS_SIZE: v = m->bytes; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = m->highestmodseq; break;
		}
		imap_printf(s, "%s%s %llu", sep, imap_status_item_name(bit), v);
		sep = " ";
	}
	imap_printf(s, ")\r\n");
}

void cmd_status(imap_session *s, const struct imap_command *cmd)
{
	struct imap_status st;
	const char *err = NULL;
	tj_buf name = TJ_BUF_INIT;
	if (imap_status_parse(&st, cmd->args, cmd->argc, &err)) {
		imap_bad(s, cmd, err ? err : "Invalid STATUS arguments.");
		return;
	}
	if (imap_mbox_decode(st.mailbox, st.mailbox_len, &name)) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name.");
		goto out;
	}
	tj_rtxn *r;
	tj_mbox_info m;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	rc = tj_store_mbox_find(r, s->user_id, (char *)name.data, &m);
	if (!rc) {
		if (st.items & IMAP_STATUS_HIGHESTMODSEQ)
			s->condstore = true;
		imap_status_write(s, &m, st.items);
	}
	tj_rtxn_end(&r);
	if (rc)
		imap_store_error(s, cmd, rc, NULL);
	else
		imap_tagged(s, cmd, "OK", "Status completed.");
out:
	tj_buf_free(&name);
}
