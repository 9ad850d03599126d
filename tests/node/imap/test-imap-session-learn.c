/* test-imap-session-learn.c - spam learning from the user's filing: MOVE or
 * COPY into \Junk is spam, out of \Junk (not into \Trash) is ham.  Included
 * by test-imap-session.c. */

struct learned {
	int calls;
	size_t n;
	bool spam;
	uint32_t user;
	uint8_t guid[TJ_GUID_LEN];
};

static void fake_learn(void *ctx, uint32_t user_id, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, bool spam)
{
	struct learned *l = ctx;
	l->calls++;
	l->n = n;
	l->spam = spam;
	l->user = user_id;
	memcpy(l->guid, guids[0], TJ_GUID_LEN);
}

static uint64_t t_mbox_su(tj_store *st, uint32_t user, const char *name, uint32_t su)
{
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = user, .name = {(const uint8_t *)name, strlen(name)},
		    .special_use = su};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	return op.mbox_id;
}

TJ_TEST(junk_moves_are_learned)
{
	struct fx f;
	fx_open(&f);
	uint64_t junk = t_mbox_su(f.st, f.user, "Junk", TJ_SU_JUNK);
	(void)t_mbox_su(f.st, f.user, "Trash", TJ_SU_TRASH);
	(void)t_mbox(f.st, f.user, "Archive");
	for (int i = 0; i < 3; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	struct learned l = {0};
	imap_session_config c = {.store = f.st, .notify = f.n, .auth = fake_auth, .wakeup = wake,
				 .wakeup_ctx = &f.wakeups, .learn = fake_learn, .learn_ctx = &l};
	imap_session *s = NULL;
	TJ_OKRC(imap_session_new(&c, &s));
	out(s);
	CONTAINS(io(s, "a LOGIN alice secret\r\n"), "a OK");
	io(s, "b SELECT INBOX\r\n");
	/* INBOX -> Archive: no verdict */
	CONTAINS(io(s, "c COPY 1 Archive\r\n"), "c OK");
	TJ_ASSERT_INT(l.calls, ==, 0);
	/* INBOX -> Junk: spam, with the moved messages' GUIDs */
	CONTAINS(io(s, "d MOVE 1:2 Junk\r\n"), "d OK Move completed.");
	TJ_ASSERT_INT(l.calls, ==, 1);
	TJ_ASSERT(l.spam);
	TJ_ASSERT_INT(l.n, ==, 2);
	TJ_ASSERT_INT(l.user, ==, f.user);
	tj_msg_info m = t_msg(f.st, junk, 1);
	TJ_ASSERT_MEM(l.guid, TJ_GUID_LEN, m.guid, TJ_GUID_LEN);
	/* Junk -> Trash: deleting spam is no verdict */
	io(s, "e SELECT Junk\r\n");
	CONTAINS(io(s, "f COPY 1 Trash\r\n"), "f OK");
	TJ_ASSERT_INT(l.calls, ==, 1);
	/* Junk -> INBOX: ham */
	CONTAINS(io(s, "g UID MOVE 2 INBOX\r\n"), "g OK Move completed.");
	TJ_ASSERT_INT(l.calls, ==, 2);
	TJ_ASSERT(!l.spam);
	TJ_ASSERT_INT(l.n, ==, 1);
	/* a failed MOVE learns nothing */
	CONTAINS(io(s, "h MOVE 1 Nowhere\r\n"), "h NO [TRYCREATE]");
	TJ_ASSERT_INT(l.calls, ==, 2);
	imap_session_free(&s);
	fx_close(&f);
}
