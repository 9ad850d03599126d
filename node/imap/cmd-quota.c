/*
 * cmd-quota.c - QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.
 * Every user has one quota root, "", covering all mailboxes; STORAGE is in
 * KiB of stored message bytes, MESSAGE counts messages.  Limits are set by
 * the administrator (tjstore-cli), so SETQUOTA is refused.
 */
#include "node/imap/imap-private.h"

#include <string.h>

static void write_quota(imap_session *s, const tj_user_info *u)
{
	imap_printf(s, "* QUOTA \"\" (");
	const char *sep = "";
	if (u->quota_bytes) {
		imap_printf(s, "STORAGE %llu %llu", (unsigned long long)((u->used_bytes + 1023) / 1024),
			    (unsigned long long)(u->quota_bytes / 1024));
		sep = " ";
	}
	if (u->quota_msgs)
		imap_printf(s, "%sMESSAGE %u %u", sep, u->used_msgs, u->quota_msgs);
	imap_printf(s, ")\r\n");
}

static int user_info(imap_session *s, tj_user_info *u)
{
	tj_rtxn *r;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		return rc;
	rc = tj_store_user_get_id(r, s->user_id, u);
	u->name.ptr = NULL;
	tj_rtxn_end(&r);
	return rc;
}

void cmd_getquota(imap_session *s, const struct imap_command *cmd)
{
	const char *root;
	size_t len;
	tj_user_info u;
	if (cmd->argc != 1 || imap_arg_get_astring(&cmd->args[0], &root, &len)) {
		imap_bad(s, cmd, "GETQUOTA takes a quota root.");
		return;
	}
	if (len != 0) {
		imap_tagged(s, cmd, "NO", "[NONEXISTENT] No such quota root.");
		return;
	}
	int rc = user_info(s, &u);
	if (rc) {
		imap_store_error(s, cmd, rc, NULL);
		return;
	}
	write_quota(s, &u);
	imap_tagged(s, cmd, "OK", "Getquota completed.");
}

void cmd_getquotaroot(imap_session *s, const struct imap_command *cmd)
{
	const char *mbox;
	size_t len;
	tj_buf name = TJ_BUF_INIT;
	tj_user_info u;
	if (cmd->argc != 1 || imap_arg_get_mailbox(&cmd->args[0], &mbox, &len)) {
		imap_bad(s, cmd, "GETQUOTAROOT takes a mailbox name.");
		return;
	}
	if (imap_mbox_decode(mbox, len, &name)) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name.");
		goto out;
	}
	tj_rtxn *r;
	tj_mbox_info m;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (!rc) {
		rc = tj_store_mbox_find(r, s->user_id, (char *)name.data, &m);
		tj_rtxn_end(&r);
	}
	if (!rc)
		rc = user_info(s, &u);
	if (rc) {
		imap_store_error(s, cmd, rc, NULL);
		goto out;
	}
	imap_printf(s, "* QUOTAROOT ");
	imap_mbox_write(&s->out, name.data, name.len);
	imap_printf(s, " \"\"\r\n");
	write_quota(s, &u);
	imap_tagged(s, cmd, "OK", "Getquotaroot completed.");
out:
	tj_buf_free(&name);
}

void cmd_setquota(imap_session *s, const struct imap_command *cmd)
{
	imap_tagged(s, cmd, "NO", "[NOPERM] Quotas are set by the administrator.");
}
