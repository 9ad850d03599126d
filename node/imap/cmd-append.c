/*
 * cmd-append.c - APPEND with flags, date-time and a literal, answering
 * APPENDUID (UIDPLUS) or [OVERQUOTA].
 *
 * The message is stored as the client sent it; it is parsed here, once,
 * and its cache blob (imap-cache.h: the MIME form and the decoded header
 * fields) travels with it (tj_msgrec.cache) so FETCH and SEARCH never parse
 * it again.
 */
#include "node/imap/imap-private.h"
#include "node/imap/imap-cache.h"

#include <string.h>
#include <time.h>

#include "protocol/imap/imap-append.h"

void cmd_append(imap_session *s, const struct imap_command *cmd)
{
	struct imap_append a = IMAP_APPEND_INIT;
	tj_buf name = TJ_BUF_INIT;
	tj_msgrec m;
	bool have_rec = false;
	tj_slice kw[TJ_OP_MAX_KEYWORDS];
	const char *err = NULL;
	int rc = imap_append_parse(&a, cmd->args, cmd->argc, &err);
	if (rc) {
		if (rc == TJ_EINVAL)
			imap_bad(s, cmd, err ? err : "Invalid APPEND arguments.");
		else
			s->out_err = true;
		goto out;
	}
	if (a.flags.count > TJ_OP_MAX_KEYWORDS) {
		imap_tagged(s, cmd, "NO", "[LIMIT] Too many keywords.");
		goto out;
	}
	tj_mbox_info mb;
	if ((rc = imap_find_target(s, cmd, a.mailbox, a.mailbox_len, &name, &mb)) == 1)
		goto out;
	if (rc)
		goto fail;
	if ((rc = tj_store_prepare(s->cfg.store, a.message, a.message_len, &m)))
		goto fail;
	have_rec = true;
	if (imap_cache_build((const uint8_t *)a.message, a.message_len, &m.cache, NULL))
		tj_buf_reset(&m.cache); /* without it FETCH parses later */
	for (size_t i = 0; i < a.flags.count; i++)
		kw[i] = (tj_slice){(const uint8_t *)a.flags.keywords[i], strlen(a.flags.keywords[i])};
	tj_op op = {.type = TJ_OP_APPEND, .user_id = s->user_id, .mbox_id = mb.id, .raw_size = m.raw_size,
		    .internal_date = a.has_date ? a.date : (int64_t)time(NULL),
		    .sys_flags = imap_flags_to_store(a.flags.system), .keywords = kw,
		    .nkeywords = (uint32_t)a.flags.count};
	memcpy(op.guid, m.guid, TJ_GUID_LEN);
	rc = tj_store_exec(s->cfg.store, &op, &m);
	uint32_t uid = op.uid;
	uint64_t modseq = op.modseq;
	tj_op_clear(&op);
	if (rc)
		goto fail;
	imap_notify_changed(s->cfg.notify, mb.id, modseq, s);
	if (s->state == IMAP_ST_SELECTED && s->mbox_id == mb.id)
		(void)imap_sync(s, true); /* EXISTS before the tagged OK */
	imap_tagged(s, cmd, "OK", "[APPENDUID %u %u] Append completed.", mb.uidvalidity, uid);
	goto out;
fail:
	if (rc == TJ_ETOOBIG)
		imap_tagged(s, cmd, "NO", "[LIMIT] Message too large.");
	else
		imap_store_error(s, cmd, rc, NULL);
out:
	if (have_rec)
		tj_msgrec_free(&m);
	imap_append_free(&a);
	tj_buf_free(&name);
}
