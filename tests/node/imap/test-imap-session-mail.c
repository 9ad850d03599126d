/*
 * test-imap-session-mail.c - groups 2-7: mailboxes, SELECT, FETCH, STORE,
 * EXPUNGE, COPY/MOVE, APPEND, SEARCH, IDLE, QUOTA, CONDSTORE/QRESYNC, and
 * two sessions on one mailbox.  Included by test-imap-session.c.
 */

TJ_TEST(list_create_delete_rename_subscribe)
{
	struct fx f;
	fx_open(&f);
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = f.user, .name = {(const uint8_t *)"Sent", 4},
		    .special_use = TJ_SU_SENT};
	TJ_OKRC(tj_store_exec(f.st, &op, NULL));
	imap_session *s = logged_in(&f);
	EXPECT(io(s, "a LIST \"\" \"\"\r\n"), "* LIST (\\Noselect) \"/\" \"\"\r\na OK LIST completed.\r\n");
	EXPECT(io(s, "b CREATE Work/Proj\r\n"), "b OK Create completed.\r\n");
	EXPECT(io(s, "c CREATE Work/Proj\r\n"), "c NO [ALREADYEXISTS] Mailbox already exists.\r\n");
	EXPECT(io(s, "c2 CREATE inbox\r\n"), "c2 NO [ALREADYEXISTS] INBOX always exists.\r\n");
	/* mUTF-7 on the wire, UTF-8 in the store */
	EXPECT(io(s, "d CREATE \"Caf&AOk-\"\r\n"), "d OK Create completed.\r\n");
	EXPECT(io(s, "d2 CREATE \"Bad&Jjo\"\r\n"), "d2 NO [CANNOT] Invalid mailbox name.\r\n");
	tj_rtxn *r;
	tj_mbox_info mi;
	TJ_OKRC(tj_rtxn_begin(f.st, &r));
	TJ_OKRC(tj_store_mbox_find(r, f.user, "Caf\xc3\xa9", &mi));
	tj_rtxn_end(&r);
	EXPECT(io(s, "e LIST \"\" *\r\n"),
	       "* LIST (\\HasNoChildren) \"/\" Caf&AOk-\r\n"
	       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
	       "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
	       "* LIST (\\Noselect \\HasChildren) \"/\" Work\r\n"
	       "* LIST (\\HasNoChildren) \"/\" Work/Proj\r\n"
	       "e OK LIST completed.\r\n");
	EXPECT(io(s, "f LIST \"\" %\r\n"),
	       "* LIST (\\HasNoChildren) \"/\" Caf&AOk-\r\n"
	       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
	       "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
	       "* LIST (\\Noselect \\HasChildren) \"/\" Work\r\n"
	       "f OK LIST completed.\r\n");
	EXPECT(io(s, "g LIST Work/ %\r\n"), "* LIST (\\HasNoChildren) \"/\" Work/Proj\r\ng OK LIST completed.\r\n");
	EXPECT(io(s, "h LIST (SPECIAL-USE) \"\" *\r\n"),
	       "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\nh OK LIST completed.\r\n");
	EXPECT(io(s, "i SUBSCRIBE Sent\r\n"), "i OK Subscribe completed.\r\n");
	EXPECT(io(s, "j LSUB \"\" *\r\n"), "* LSUB () \"/\" Sent\r\nj OK LSUB completed.\r\n");
	EXPECT(io(s, "k LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES UIDNEXT))\r\n"),
	       "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" Sent\r\n"
	       "* STATUS Sent (MESSAGES 0 UIDNEXT 1)\r\n"
	       "k OK LIST completed.\r\n");
	EXPECT(io(s, "l UNSUBSCRIBE Sent\r\n"), "l OK Unsubscribe completed.\r\n");
	EXPECT(io(s, "m LSUB \"\" *\r\n"), "m OK LSUB completed.\r\n");
	EXPECT(io(s, "n RENAME Work Play\r\n"), "n NO [NONEXISTENT] No such mailbox.\r\n");
	EXPECT(io(s, "o RENAME Work/Proj Play\r\n"), "o OK Rename completed.\r\n");
	EXPECT(io(s, "p RENAME Play Sent\r\n"), "p NO [ALREADYEXISTS] Mailbox already exists.\r\n");
	EXPECT(io(s, "q DELETE Play\r\n"), "q OK Delete completed.\r\n");
	EXPECT(io(s, "r DELETE Play\r\n"), "r NO [NONEXISTENT] No such mailbox.\r\n");
	EXPECT(io(s, "s DELETE INBOX\r\n"), "s NO [CANNOT] INBOX can't be deleted.\r\n");
	EXPECT(io(s, "t LIST \"\" P*\r\n"), "t OK LIST completed.\r\n");
	EXPECT(io(s, "u CREATE\r\n"), "u BAD CREATE takes one mailbox name.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(status_and_quota)
{
	struct fx f;
	fx_open(&f);
	t_append(f.st, f.user, f.inbox, msg1);
	t_append(f.st, f.user, f.inbox, msg2);
	tj_mbox_info mi = t_mbox_info(f.st, f.inbox);
	imap_session *s = logged_in(&f);
	EXPECT(io(s, "a STATUS inbox (MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT HIGHESTMODSEQ)\r\n"),
	       fmt("* STATUS INBOX (MESSAGES 2 RECENT 0 UIDNEXT 3 UIDVALIDITY %u UNSEEN 2 HIGHESTMODSEQ %llu)\r\n"
		   "a OK Status completed.\r\n",
		   mi.uidvalidity, (unsigned long long)mi.highestmodseq));
	EXPECT(io(s, "b STATUS nope (MESSAGES)\r\n"), "b NO [NONEXISTENT] No such mailbox.\r\n");
	CONTAINS(io(s, "c STATUS INBOX (BOGUS)\r\n"), "c BAD ");
	EXPECT(io(s, "d GETQUOTAROOT INBOX\r\n"),
	       "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" ()\r\nd OK Getquotaroot completed.\r\n");
	imap_session_free(&s);
	/* with a limit */
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)"alice", 5}, .quota_bytes = 10240,
		    .quota_msgs = 100};
	TJ_OKRC(tj_store_exec(f.st, &op, NULL));
	s = logged_in(&f);
	uint64_t used = sizeof(msg1) - 1 + sizeof(msg2) - 1;
	EXPECT(io(s, "e GETQUOTA \"\"\r\n"),
	       fmt("* QUOTA \"\" (STORAGE %llu 10 MESSAGE 2 100)\r\ne OK Getquota completed.\r\n",
		   (unsigned long long)((used + 1023) / 1024)));
	EXPECT(io(s, "f GETQUOTA other\r\n"), "f NO [NONEXISTENT] No such quota root.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(select_examine_close_unselect)
{
	struct fx f;
	fx_open(&f);
	t_append(f.st, f.user, f.inbox, msg1);
	uint32_t u2 = 0;
	TJ_OKRC(t_append_rc(f.st, f.user, f.inbox, msg2, strlen(msg2), TJ_F_SEEN, &u2));
	t_append(f.st, f.user, f.inbox, msg1);
	tj_mbox_info mi = t_mbox_info(f.st, f.inbox);
	imap_session *s = logged_in(&f);
	EXPECT(io(s, "a SELECT inbox\r\n"),
	       fmt("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
		   "* 3 EXISTS\r\n* 0 RECENT\r\n"
		   "* OK [UNSEEN 1] First unseen.\r\n"
		   "* OK [UIDVALIDITY %u] UIDs valid.\r\n"
		   "* OK [UIDNEXT 4] Predicted next UID.\r\n"
		   "* OK [HIGHESTMODSEQ %llu] Highest.\r\n"
		   "a OK [READ-WRITE] Select completed.\r\n",
		   mi.uidvalidity, (unsigned long long)mi.highestmodseq));
	EXPECT(io(s, "b CHECK\r\n"), "b OK CHECK completed.\r\n");
	EXPECT(io(s, "c UNSELECT\r\n"), "c OK Unselect completed.\r\n");
	EXPECT(io(s, "d FETCH 1 UID\r\n"), "d BAD No mailbox selected.\r\n");
	const char *o = io(s, "e EXAMINE INBOX\r\n");
	CONTAINS(o, "* OK [PERMANENTFLAGS ()] Flags permitted.\r\n");
	CONTAINS(o, "e OK [READ-ONLY] Examine completed.\r\n");
	EXPECT(io(s, "f STORE 1 +FLAGS (\\Deleted)\r\n"), "f NO Mailbox is read-only.\r\n");
	EXPECT(io(s, "g SELECT nope\r\n"), "g NO [NONEXISTENT] No such mailbox.\r\n");
	/* a failed SELECT leaves no mailbox selected */
	EXPECT(io(s, "h FETCH 1 UID\r\n"), "h BAD No mailbox selected.\r\n");
	io(s, "i SELECT INBOX\r\n");
	EXPECT(io(s, "j STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n"), "j OK Store completed.\r\n");
	EXPECT(io(s, "k CLOSE\r\n"), "k OK Close completed.\r\n");
	mi = t_mbox_info(f.st, f.inbox);
	TJ_ASSERT_INT(mi.messages, ==, 1);
	o = io(s, "l SELECT INBOX\r\n");
	CONTAINS(o, "* 1 EXISTS\r\n");
	LACKS(o, "UNSEEN");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(fetch_items)
{
	struct fx f;
	fx_open(&f);
	t_append(f.st, f.user, f.inbox, msg1);
	t_append(f.st, f.user, f.inbox, msg2);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	/* msg1 is LF-only: 8 lines, so RFC822.SIZE = bytes + 8 */
	size_t size1 = sizeof(msg1) - 1 + 8;
	EXPECT(io(s, "a FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"),
	       fmt("* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE %zu)\r\n"
		   "a OK Fetch completed.\r\n",
		   size1));
	EXPECT(io(s, "b FETCH 1 ENVELOPE\r\n"),
	       "* 1 FETCH (ENVELOPE (\"Tue, 14 Nov 2023 22:13:20 +0000\" \"hello world\" "
	       "((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) "
	       "((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL "
	       "\"<1@t>\"))\r\nb OK Fetch completed.\r\n");
	EXPECT(io(s, "c FETCH 1 BODY.PEEK[TEXT]\r\n"),
	       "* 1 FETCH (BODY[TEXT] {30}\r\nfirst body line\r\nsecond line\r\n)\r\nc OK Fetch completed.\r\n");
	EXPECT(io(s, "d FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\n"),
	       "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: hello world\r\n\r\n)\r\n"
	       "d OK Fetch completed.\r\n");
	EXPECT(io(s, "e FETCH 1 BODY.PEEK[]<6.10>\r\n"),
	       "* 1 FETCH (BODY[]<6> {10}\r\nAlice <ali)\r\ne OK Fetch completed.\r\n");
	/* still unseen: everything so far was PEEK */
	EXPECT(io(s, "f FETCH 1 FLAGS\r\n"), "* 1 FETCH (FLAGS ())\r\nf OK Fetch completed.\r\n");
	/* BODY[] without PEEK sets \Seen and reports FLAGS */
	const char *o = io(s, "g FETCH 1 BODY[1]\r\n");
	CONTAINS(o, "* 1 FETCH (FLAGS (\\Seen) BODY[1] {30}\r\nfirst body line\r\nsecond line\r\n)\r\n");
	EXPECT(io(s, "h FETCH 1 FLAGS\r\n"), "* 1 FETCH (FLAGS (\\Seen))\r\nh OK Fetch completed.\r\n");
	o = io(s, "i UID FETCH 2 (BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[9])\r\n");
	CONTAINS(o, "* 2 FETCH (UID 2 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 16 0 "
		    "NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) "
		    "\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL) ");
	CONTAINS(o, "BODY[1] {16}\r\nc291cCBkdSBqb3Vy BODY[2.MIME] {27}\r\n");
	CONTAINS(o, "Content-Type: text/html\r\n\r\n BODY[9] {0}");
	CONTAINS(o, "BODY[9] {0}\r\n)\r\ni OK Fetch completed.\r\n");
	o = io(s, "j FETCH 2 (RFC822.HEADER BODY)\r\n");
	CONTAINS(o, "* 2 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 16 0)");
	CONTAINS(o, "RFC822.HEADER {");
	CONTAINS(o, "Subject: =?UTF-8?Q?caf=C3=A9?= menu\r\n");
	EXPECT(io(s, "k FETCH 3 FLAGS\r\n"), "k BAD Invalid message number.\r\n");
	EXPECT(io(s, "l UID FETCH 3:* FLAGS\r\n"), "* 2 FETCH (UID 2 FLAGS ())\r\nl OK Fetch completed.\r\n");
	EXPECT(io(s, "m UID FETCH 100:200 FLAGS\r\n"), "m OK Fetch completed.\r\n");
	CONTAINS(io(s, "n FETCH 1 (FLAGS BOGUS)\r\n"), "n BAD ");
	o = io(s, "o FETCH 1:2 FAST\r\n");
	CONTAINS(o, "* 1 FETCH (FLAGS (\\Seen) INTERNALDATE");
	CONTAINS(o, "* 2 FETCH (FLAGS () INTERNALDATE");
	o = io(s, "p FETCH 2 RFC822\r\n");
	CONTAINS(o, "* 2 FETCH (FLAGS (\\Seen) RFC822 {");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(store_flags_and_condstore)
{
	struct fx f;
	fx_open(&f);
	for (int i = 0; i < 3; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	EXPECT(io(s, "a STORE 1:2 +FLAGS (\\Flagged $Work)\r\n"),
	       "* 1 FETCH (FLAGS (\\Flagged $Work))\r\n* 2 FETCH (FLAGS (\\Flagged $Work))\r\na OK Store completed.\r\n");
	EXPECT(io(s, "b UID STORE 2 -FLAGS (\\Flagged)\r\n"),
	       "* 2 FETCH (UID 2 FLAGS ($Work))\r\nb OK Store completed.\r\n");
	EXPECT(io(s, "c STORE 3 FLAGS.SILENT (\\Seen \\Answered)\r\n"), "c OK Store completed.\r\n");
	EXPECT(io(s, "d FETCH 1:3 FLAGS\r\n"),
	       "* 1 FETCH (FLAGS (\\Flagged $Work))\r\n* 2 FETCH (FLAGS ($Work))\r\n"
	       "* 3 FETCH (FLAGS (\\Answered \\Seen))\r\nd OK Fetch completed.\r\n");
	CONTAINS(io(s, "e STORE 1 +FLAGS (\\Recent)\r\n"), "e BAD ");
	/* CONDSTORE: MODSEQ, UNCHANGEDSINCE -> MODIFIED */
	tj_msg_info m1 = t_msg(f.st, f.inbox, 1), m2 = t_msg(f.st, f.inbox, 2);
	TJ_ASSERT(m2.modseq > m1.modseq);
	EXPECT(io(s, fmt("f STORE 1:2 (UNCHANGEDSINCE %llu) +FLAGS (\\Deleted)\r\n", (unsigned long long)m1.modseq)),
	       fmt("* 1 FETCH (FLAGS (\\Flagged \\Deleted $Work) MODSEQ (%llu))\r\nf OK [MODIFIED 2] Conditional STORE failed.\r\n",
		   (unsigned long long)m2.modseq + 2));
	EXPECT(io(s, "g FETCH 2 (MODSEQ)\r\n"),
	       fmt("* 2 FETCH (MODSEQ (%llu))\r\ng OK Fetch completed.\r\n", (unsigned long long)m2.modseq));
	/* .SILENT under CONDSTORE still tells the new MODSEQ */
	EXPECT(io(s, "s2 UID STORE 3 +FLAGS.SILENT ($X)\r\n"),
	       fmt("* 3 FETCH (UID 3 MODSEQ (%llu))\r\ns2 OK Store completed.\r\n", (unsigned long long)m2.modseq + 3));
	/* CHANGEDSINCE: only what changed after */
	EXPECT(io(s, fmt("h FETCH 1:3 (FLAGS) (CHANGEDSINCE %llu)\r\n", (unsigned long long)m2.modseq + 1)),
	       fmt("* 1 FETCH (FLAGS (\\Flagged \\Deleted $Work) MODSEQ (%llu))\r\n"
		   "* 3 FETCH (FLAGS (\\Answered \\Seen $X) MODSEQ (%llu))\r\nh OK Fetch completed.\r\n",
		   (unsigned long long)m2.modseq + 2, (unsigned long long)m2.modseq + 3));
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(expunge_and_uid_expunge)
{
	struct fx f;
	fx_open(&f);
	for (int i = 0; i < 5; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	io(s, "a STORE 2,4,5 +FLAGS.SILENT (\\Deleted)\r\n");
	EXPECT(io(s, "b UID EXPUNGE 1:4\r\n"), "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\nb OK Expunge completed.\r\n");
	EXPECT(io(s, "c EXPUNGE\r\n"), "* 3 EXPUNGE\r\nc OK Expunge completed.\r\n");
	EXPECT(io(s, "d FETCH 1:* UID\r\n"), "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\nd OK Fetch completed.\r\n");
	EXPECT(io(s, "e EXPUNGE\r\n"), "e OK Expunge completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(copy_move_append_uidplus)
{
	struct fx f;
	fx_open(&f);
	uint64_t arch = t_mbox(f.st, f.user, "Archive");
	for (int i = 0; i < 3; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	tj_mbox_info ai = t_mbox_info(f.st, arch);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	EXPECT(io(s, "a COPY 1:2 Archive\r\n"), fmt("a OK [COPYUID %u 1:2 1:2] Copy completed.\r\n", ai.uidvalidity));
	EXPECT(io(s, "b COPY 1 Nowhere\r\n"), "b NO [TRYCREATE] No such mailbox.\r\n");
	EXPECT(io(s, "c UID MOVE 2:3 Archive\r\n"),
	       fmt("* OK [COPYUID %u 2:3 3:4] Moved UIDs.\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nc OK Move completed.\r\n",
		   ai.uidvalidity));
	EXPECT(io(s, "d MOVE 1 INBOX\r\n"), "d NO [CANNOT] Can't move into the same mailbox.\r\n");
	TJ_ASSERT_INT(t_mbox_info(f.st, arch).messages, ==, 4);
	TJ_ASSERT_INT(t_mbox_info(f.st, f.inbox).messages, ==, 1);
	/* APPEND with flags, date and a synchronizing literal */
	EXPECT(io(s, "e APPEND Archive (\\Seen $Fwd) \"01-Feb-2024 10:00:00 +0100\" {12}\r\n"), "+ Ready for literal data\r\n");
	EXPECT(io(s, "Subject: x\r\n\r\n"), fmt("e OK [APPENDUID %u 5] Append completed.\r\n", ai.uidvalidity));
	tj_msg_info m = t_msg(f.st, arch, 5);
	TJ_ASSERT_INT(m.internal_date, ==, 1706778000);
	TJ_ASSERT_INT(m.sys_flags, ==, TJ_F_SEEN);
	TJ_ASSERT_INT(m.raw_size, ==, 12);
	/* the parse was cached with the message */
	tj_rtxn *r;
	tj_slice blob;
	TJ_OKRC(tj_rtxn_begin(f.st, &r));
	TJ_OKRC(tj_store_cache_get(r, m.guid, &blob));
	tj_rtxn_end(&r);
	/* APPEND to the selected mailbox: EXISTS before the tagged OK (LITERAL+) */
	EXPECT(io(s, "f APPEND INBOX {3+}\r\nhi\n\r\n"),
	       fmt("* 2 EXISTS\r\nf OK [APPENDUID %u 4] Append completed.\r\n", t_mbox_info(f.st, f.inbox).uidvalidity));
	EXPECT(io(s, "g APPEND Nowhere {1+}\r\nx\r\n"), "g NO [TRYCREATE] No such mailbox.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(append_over_quota)
{
	struct fx f;
	fx_open(&f);
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)"alice", 5}, .quota_bytes = 100};
	TJ_OKRC(tj_store_exec(f.st, &op, NULL));
	imap_session *s = logged_in(&f);
	tj_buf b = TJ_BUF_INIT;
	tj_buf_printf(&b, "a APPEND INBOX {200+}\r\n");
	for (int i = 0; i < 200; i++)
		tj_buf_putc(&b, 'x');
	tj_buf_puts(&b, "\r\n");
	EXPECT(io(s, (const char *)b.data), "a NO [OVERQUOTA] Quota exceeded.\r\n");
	tj_buf_free(&b);
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(search_keys)
{
	struct fx f;
	fx_open(&f);
	t_append(f.st, f.user, f.inbox, msg1);
	t_append(f.st, f.user, f.inbox, msg2);
	t_append(f.st, f.user, f.inbox, msg1);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	io(s, "x STORE 3 +FLAGS.SILENT (\\Seen $Work)\r\n");
	EXPECT(io(s, "a SEARCH ALL\r\n"), "* SEARCH 1 2 3\r\na OK Search completed.\r\n");
	EXPECT(io(s, "b SEARCH SUBJECT \"café\"\r\n"), "* SEARCH 2\r\nb OK Search completed.\r\n");
	EXPECT(io(s, "c SEARCH CHARSET UTF-8 BODY \"SOUP DU\"\r\n"), "* SEARCH 2\r\nc OK Search completed.\r\n");
	EXPECT(io(s, "d SEARCH FROM alice\r\n"), "* SEARCH 1 3\r\nd OK Search completed.\r\n");
	EXPECT(io(s, "e UID SEARCH SEEN KEYWORD $work\r\n"), "* SEARCH 3\r\ne OK Search completed.\r\n");
	EXPECT(io(s, "f SEARCH OR UNSEEN TO alice NOT 1\r\n"), "* SEARCH 2\r\nf OK Search completed.\r\n");
	EXPECT(io(s, "g SEARCH SENTBEFORE 1-Jan-2021\r\n"), "* SEARCH 2\r\ng OK Search completed.\r\n");
	EXPECT(io(s, "h SEARCH SENTON 14-Nov-2023\r\n"), "* SEARCH 1 3\r\nh OK Search completed.\r\n");
	EXPECT(io(s, "i SEARCH ON 14-Nov-2023 SINCE 1-Jan-2023 BEFORE 15-Nov-2023\r\n"),
	       "* SEARCH 1 2 3\r\ni OK Search completed.\r\n");
	EXPECT(io(s, "j SEARCH LARGER 200\r\n"), "* SEARCH 2\r\nj OK Search completed.\r\n");
	EXPECT(io(s, "k SEARCH HEADER Message-ID <1@t> SMALLER 200\r\n"), "* SEARCH 1 3\r\nk OK Search completed.\r\n");
	EXPECT(io(s, "l SEARCH TEXT \"second line\" UID 2:*\r\n"), "* SEARCH 3\r\nl OK Search completed.\r\n");
	EXPECT(io(s, "m SEARCH NEW\r\n"), "* SEARCH\r\nm OK Search completed.\r\n");
	EXPECT(io(s, "n SEARCH CHARSET KOI8-R ALL\r\n"), "n NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset.\r\n");
	CONTAINS(io(s, "o SEARCH FROBNICATE\r\n"), "o BAD ");
	EXPECT(io(s, "p UID SEARCH RETURN (MIN MAX COUNT) 1:*\r\n"),
	       "* ESEARCH (TAG \"p\") UID MIN 1 MAX 3 COUNT 3\r\np OK Search completed.\r\n");
	EXPECT(io(s, "q SEARCH RETURN () FROM alice\r\n"), "* ESEARCH (TAG \"q\") ALL 1,3\r\nq OK Search completed.\r\n");
	tj_msg_info m3 = t_msg(f.st, f.inbox, 3);
	EXPECT(io(s, fmt("r SEARCH MODSEQ %llu\r\n", (unsigned long long)m3.modseq)),
	       fmt("* SEARCH 3 (MODSEQ %llu)\r\nr OK Search completed.\r\n", (unsigned long long)m3.modseq));
	imap_session_free(&s);
	fx_close(&f);
}

/* SEARCH answers header keys from the cache blob's decoded fields when the
 * message was stored with one (APPEND), from the message when it has no
 * blob (t_append), and gives an older blob (a bare MIME blob, as delivery
 * wrote) its fields: all must find the same messages.  Each message is
 * stored three times, UID 3k+1 through APPEND, 3k+2 without a blob, 3k+3
 * with an older blob (behind one more header line each, so that the
 * copies are different bytes). */
static void append_old_blob(struct fx *f, const char *text)
{
	tj_msgrec m;
	struct tj_mime_msg *mime = NULL;
	TJ_OKRC(tj_store_prepare(f->st, text, strlen(text), &m));
	TJ_OKRC(tj_mime_parse((const uint8_t *)text, strlen(text), &mime));
	TJ_OKRC(tj_mime_serialize(mime, &m.cache));
	tj_mime_free(&mime);
	tj_op op = {.type = TJ_OP_APPEND, .user_id = f->user, .mbox_id = f->inbox, .internal_date = 1700000000};
	memcpy(op.guid, m.guid, TJ_GUID_LEN);
	TJ_OKRC(tj_store_exec(f->st, &op, &m));
	tj_op_clear(&op);
	tj_msgrec_free(&m);
}

static void check_blobs(struct fx *f, uint32_t n, const char *old_magic)
{
	tj_rtxn *r;
	TJ_OKRC(tj_rtxn_begin(f->st, &r));
	for (uint32_t uid = 1; uid <= 3 * n; uid++) {
		tj_msg_info m = t_msg(f->st, f->inbox, uid);
		tj_slice blob;
		int rc = tj_store_cache_get(r, m.guid, &blob);
		if (uid % 3 == 2)
			TJ_ASSERT_INT(rc, ==, TJ_ENOTFOUND);
		else
			TJ_ASSERT(rc == 0 && blob.len > 4 &&
				  memcmp(blob.ptr, uid % 3 == 1 ? "TJC\x01" : old_magic, 4) == 0);
	}
	tj_rtxn_end(&r);
}

TJ_TEST(search_cached_fields_match_the_message)
{
	static const char *msgs[] = {
		"From: =?UTF-8?B?SsO2cmc=?= <jorg@example.org>\nTo: a@x.example, b@y.example\nTo: second@z.example\n"
		"Cc: =?iso-8859-1?q?Caf=E9?= <cafe@x.example>\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?= folded\n"
		" continued here\nDate: 14 Nov 2023 10:00:00 +0000\nMessage-ID: <abc@host>\n\nbody\n",
		"from: lower@case.example\nSUBJECT: UPPER and lower\nX-From: nope@other.example\n"
		"Date: Fri, 1 Jan 1999 00:00:00 GMT\n\nbody From: not@header.example\n",
		"Subject: only headers\nFrom: x@y.example",
		"From : spaced@colon.example\nSubject:\tTabbed\n\nbody\n",
		"From: crlf@x.example\r\nSubject: crlf line ends\r\nDate: 2 Feb 03 1:02 -0100\r\n\r\nbody\r\n",
		"Bcc: hidden@x.example\nDate: bogus\nSubject: =?unknown-charset?q?zz?= =?utf-8?q?ok?=\n\nbody\n",
	};
	static const char *queries[] = {
		"FROM jorg", "FROM \"J\xc3\x96RG\"", "FROM \"\"", "TO second", "TO \"a@x\"", "TO \"\"", "CC \"caf\xc3\xa9\"",
		"CC cafe", "SUBJECT \"r\xc3\xa9sum\xc3\xa9\"", "SUBJECT \"folded continued\"", "SUBJECT \"folded  continued\"",
		"SUBJECT upper", "FROM lower", "FROM spaced", "SUBJECT tabbed", "BCC hidden", "BCC \"\"",
		"HEADER Message-ID abc", "HEADER MESSAGE-ID \"\"", "HEADER X-From nope", "HEADER From \"not@\"",
		"SENTON 14-Nov-2023", "SENTBEFORE 1-Jan-2000", "SENTSINCE 1-Jan-2000", "SENTON 2-Feb-2003",
		"NOT SENTSINCE 1-Jan-1900", "SUBJECT only", "FROM x@y", "SUBJECT ok", "OR FROM crlf SUBJECT zz",
	};
	struct fx f;
	fx_open(&f);
	imap_session *s = logged_in(&f);
	size_t n = sizeof(msgs) / sizeof(msgs[0]);
	for (size_t i = 0; i < n; i++) {
		CONTAINS(io(s, fmt("a APPEND INBOX {%zu+}\r\n%s\r\n", strlen(msgs[i]), msgs[i])), "a OK [APPENDUID");
		/* other bytes, or single-instance storage would share the blob */
		t_append(f.st, f.user, f.inbox, fmt("X-Copy: raw\n%s", msgs[i]));
		append_old_blob(&f, fmt("X-Copy: old\n%s", msgs[i]));
	}
	check_blobs(&f, (uint32_t)n, "TJM\x01");
	io(s, "s SELECT INBOX\r\n");
	for (int round = 0; round < 2; round++) {
		for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
			const char *got = io(s, fmt("q UID SEARCH CHARSET UTF-8 %s\r\n", queries[q]));
			if (strncmp(got, "* SEARCH", 8) != 0 || !strstr(got, "q OK"))
				TJ_FAIL("%s: %s", queries[q], got);
			bool hit[64] = {false};
			for (const char *p = got + 8; *p == ' ';) {
				unsigned long u = strtoul(p + 1, (char **)&p, 10);
				TJ_ASSERT(u >= 1 && u <= 3 * n);
				hit[u] = true;
			}
			for (uint32_t k = 1; k <= 3 * n; k += 3)
				if (hit[k] != hit[k + 1] || hit[k] != hit[k + 2])
					TJ_FAIL("round %d, %s: UID %u (cached) %s, UID %u (read) %s, UID %u (older blob) %s",
						round, queries[q], k, hit[k] ? "hit" : "missed", k + 1,
						hit[k + 1] ? "hit" : "missed", k + 2, hit[k + 2] ? "hit" : "missed");
		}
		/* the first round gave the older blobs their fields (stored after
		 * the search; a later commit waits for it); the second reads them */
		t_user(f.st, "alice", 0);
		check_blobs(&f, (uint32_t)n, "TJC\x01");
	}
	/* some answers pinned, so that the triples are not all empty */
	EXPECT(io(s, "b UID SEARCH FROM jorg\r\n"), "* SEARCH 1 2 3\r\nb OK Search completed.\r\n");
	EXPECT(io(s, "c UID SEARCH CC \"caf\xc3\xa9\"\r\n"), "* SEARCH 1 2 3\r\nc OK Search completed.\r\n");
	EXPECT(io(s, "d UID SEARCH SENTBEFORE 1-Jan-2000\r\n"), "* SEARCH 4 5 6\r\nd OK Search completed.\r\n");
	EXPECT(io(s, "e UID SEARCH FROM spaced\r\n"), "* SEARCH\r\ne OK Search completed.\r\n");
	EXPECT(io(s, "g UID SEARCH SUBJECT \"folded continued\"\r\n"), "* SEARCH 1 2 3\r\ng OK Search completed.\r\n");
	/* FETCH still reads the structure from every kind of blob */
	CONTAINS(io(s, "h UID FETCH 7:9 (ENVELOPE)\r\n"), "h OK Fetch completed.");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(two_sessions_see_each_other)
{
	struct fx f;
	fx_open(&f);
	for (int i = 0; i < 3; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	imap_session *a = logged_in(&f), *b = logged_in(&f);
	io(a, "a SELECT INBOX\r\n");
	io(b, "b SELECT INBOX\r\n");
	TJ_ASSERT(!imap_session_has_pending_notify(b));
	/* A flags and expunges; B hears about it at its next command */
	io(a, "a1 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
	TJ_ASSERT(imap_session_has_pending_notify(b));
	/* outside IDLE a notification is not work: the next command reports it
	 * (counting it made the server re-run an idle session forever) */
	TJ_ASSERT(!imap_session_needs_run(b));
	TJ_ASSERT(!imap_session_has_pending_notify(a));
	TJ_ASSERT_INT(f.wakeups, >=, 1);
	EXPECT(io(b, "b1 NOOP\r\n"), "* 2 FETCH (FLAGS (\\Deleted))\r\nb1 OK NOOP completed.\r\n");
	TJ_ASSERT(!imap_session_has_pending_notify(b));
	EXPECT(io(a, "a2 EXPUNGE\r\n"), "* 2 EXPUNGE\r\na2 OK Expunge completed.\r\n");
	/* FETCH uses message numbers: the EXPUNGE waits... */
	EXPECT(io(b, "b2 FETCH 3 UID\r\n"), "* 3 FETCH (UID 3)\r\nb2 OK Fetch completed.\r\n");
	/* ...until a command that may hear it */
	EXPECT(io(b, "b3 NOOP\r\n"), "* 2 EXPUNGE\r\nb3 OK NOOP completed.\r\n");
	EXPECT(io(b, "b4 FETCH 2 UID\r\n"), "* 2 FETCH (UID 3)\r\nb4 OK Fetch completed.\r\n");
	/* new mail from delivery (another writer) and an APPEND by A */
	t_append(f.st, f.user, f.inbox, msg1);
	imap_notify_changed(f.n, f.inbox, t_mbox_info(f.st, f.inbox).highestmodseq, NULL);
	io(a, "a3 APPEND INBOX {2+}\r\nhi\r\n");
	EXPECT(io(b, "b5 NOOP\r\n"), "* 4 EXISTS\r\nb5 OK NOOP completed.\r\n");
	/* B during IDLE gets A's change without sending anything */
	EXPECT(io(b, "b6 IDLE\r\n"), "+ idling\r\n");
	io(a, "a4 UID STORE 1 +FLAGS.SILENT (\\Answered)\r\n");
	TJ_ASSERT(imap_session_needs_run(b));
	TJ_OKRC(imap_session_run(b));
	EXPECT(out(b), "* 1 FETCH (FLAGS (\\Answered))\r\n");
	EXPECT(io(b, "DONE\r\n"), "b6 OK Idle completed.\r\n");
	/* QRESYNC sessions hear VANISHED */
	io(b, "b7 ENABLE QRESYNC\r\n");
	io(a, "a5 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
	io(a, "a6 EXPUNGE\r\n");
	const char *o = io(b, "b8 NOOP\r\n");
	EXPECT(o, "* VANISHED 1\r\nb8 OK NOOP completed.\r\n");
	/* a deleted mailbox ends the other session */
	io(a, "a7 CREATE Tmp\r\n");
	io(a, "a8 SELECT Tmp\r\n");
	io(b, "b9 SELECT Tmp\r\n");
	io(a, "a9 DELETE Tmp\r\n");
	EXPECT(io(b, "b10 NOOP\r\n"), "* BYE Selected mailbox was deleted.\r\n");
	TJ_ASSERT(imap_session_wants_close(b));
	imap_session_free(&a);
	imap_session_free(&b);
	fx_close(&f);
}

TJ_TEST(idle_done_and_bad)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = logged_in(&f);
	EXPECT(io(s, "i IDLE\r\n"), "+ idling\r\n");
	EXPECT(io(s, "NOPE\r\n"), "i BAD Expected DONE.\r\n");
	EXPECT(io(s, "j IDLE\r\n"), "+ idling\r\n");
	EXPECT(io_bytewise(s, "done\r\nk NOOP\r\n"), "j OK Idle completed.\r\nk OK NOOP completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(qresync_select)
{
	struct fx f;
	fx_open(&f);
	for (int i = 0; i < 4; i++)
		t_append(f.st, f.user, f.inbox, msg1);
	tj_mbox_info mi = t_mbox_info(f.st, f.inbox);
	uint64_t since = mi.highestmodseq;
	imap_session *a = logged_in(&f);
	io(a, "a SELECT INBOX\r\n");
	io(a, "a1 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
	io(a, "a2 EXPUNGE\r\n");
	io(a, "a3 STORE 3 +FLAGS.SILENT (\\Seen)\r\n");
	uint64_t now = t_mbox_info(f.st, f.inbox).highestmodseq;
	tj_msg_info m4 = t_msg(f.st, f.inbox, 4);
	imap_session *b = logged_in(&f);
	EXPECT(io(b, fmt("b SELECT INBOX (QRESYNC (%u %llu))\r\n", mi.uidvalidity, (unsigned long long)since)),
	       "b BAD QRESYNC is not enabled.\r\n");
	io(b, "e ENABLE QRESYNC\r\n");
	const char *o = io(b, fmt("b2 SELECT INBOX (QRESYNC (%u %llu 1:4))\r\n", mi.uidvalidity, (unsigned long long)since));
	CONTAINS(o, fmt("* OK [HIGHESTMODSEQ %llu] Highest.\r\n", (unsigned long long)now));
	CONTAINS(o, "* VANISHED (EARLIER) 2\r\n");
	CONTAINS(o, fmt("* 3 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (%llu))\r\n", (unsigned long long)m4.modseq));
	CONTAINS(o, "b2 OK [READ-WRITE] Select completed.\r\n");
	/* UID FETCH ... (CHANGEDSINCE n VANISHED) */
	o = io(b, fmt("b3 UID FETCH 1:* FLAGS (CHANGEDSINCE %llu VANISHED)\r\n", (unsigned long long)since));
	EXPECT(o, fmt("* VANISHED (EARLIER) 2\r\n* 3 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (%llu))\r\nb3 OK Fetch completed.\r\n",
		      (unsigned long long)m4.modseq));
	/* re-SELECT says CLOSED first */
	CONTAINS(io(b, "b4 EXAMINE INBOX\r\n"), "* OK [CLOSED] Previous mailbox closed.\r\n");
	imap_session_free(&a);
	imap_session_free(&b);
	fx_close(&f);
}

TJ_TEST(append_bytewise_and_rename_inbox)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = logged_in(&f);
	tj_mbox_info mi = t_mbox_info(f.st, f.inbox);
	const char *o = io_bytewise(s, "a APPEND INBOX (\\Flagged) {19}\r\nSubject: one\n\nbody\n\r\n");
	EXPECT(o, fmt("+ Ready for literal data\r\na OK [APPENDUID %u 1] Append completed.\r\n", mi.uidvalidity));
	io(s, "s SELECT INBOX\r\n");
	EXPECT(io(s, "f FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n"),
	       "* 1 FETCH (FLAGS (\\Flagged) RFC822.SIZE 22 BODY[HEADER] {16}\r\nSubject: one\r\n\r\n)\r\n"
	       "f OK Fetch completed.\r\n");
	/* RENAME INBOX moves the messages to a new mailbox; INBOX stays, empty */
	EXPECT(io(s, "r RENAME INBOX Old\r\n"), "r OK Rename completed.\r\n");
	EXPECT(io(s, "n NOOP\r\n"), "* 1 EXPUNGE\r\nn OK NOOP completed.\r\n");
	EXPECT(io(s, "t STATUS Old (MESSAGES)\r\n"), "* STATUS Old (MESSAGES 1)\r\nt OK Status completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(mime_cache_filled_for_imported_mail)
{
	struct fx f;
	fx_open(&f);
	uint32_t uid = t_append(f.st, f.user, f.inbox, msg2); /* no cache blob, like imported mail */
	tj_msg_info m = t_msg(f.st, f.inbox, uid);
	tj_rtxn *r;
	tj_slice blob;
	TJ_OKRC(tj_rtxn_begin(f.st, &r));
	TJ_ASSERT_INT(tj_store_cache_get(r, m.guid, &blob), ==, TJ_ENOTFOUND);
	tj_rtxn_end(&r);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	const char *o = io(s, "a FETCH 1 ENVELOPE\r\n");
	CONTAINS(o, "* 1 FETCH (ENVELOPE (\"1 Jan 2020 10:00:00 +0100\" \"=?UTF-8?Q?caf=C3=A9?= menu\"");
	TJ_OKRC(tj_rtxn_begin(f.st, &r));
	TJ_OKRC(tj_store_cache_get(r, m.guid, &blob));
	tj_rtxn_end(&r);
	imap_session_free(&s);
	fx_close(&f);
}

/* random_commands_do_not_break_the_session - random token soup (with
 * literals, IDLE, APPEND, selections) run under ASan: no crash, and the
 * session still answers afterwards unless it said BYE */
TJ_TEST(random_commands_do_not_break_the_session)
{
	static const char *const tok[] = {
		"FETCH", "UID", "1:*", "*", "2,4:5", "(", ")", "BODY[", "BODY.PEEK[HEADER.FIELDS (FROM)]", "]", "<0.5>",
		"{3}\r\nabc", "{2+}\r\nxy", "\r\n", "STORE", "+FLAGS", "-FLAGS.SILENT", "\\Seen", "\\Deleted",
		"SEARCH", "OR", "NOT", "TEXT", "\"x\"", "SELECT", "EXAMINE", "INBOX", "Other", "EXPUNGE", "IDLE", "DONE",
		"APPEND", "LIST", "%", "\"\"", "COPY", "MOVE", "CREATE", "DELETE", "RENAME", "STATUS", "(MESSAGES)",
		"ENVELOPE", "BODYSTRUCTURE", "RFC822", "FLAGS", "(FLAGS UID)", "ALL", "Other", "(\\Flagged)", "CHANGEDSINCE", "1", "0", "4294967296", "NOOP", "CLOSE",
		"UNSELECT", "ENABLE", "QRESYNC", "\x01", "\xff", "~{1}\r\n\x00",
	};
	struct fx f;
	fx_open(&f);
	t_mbox(f.st, f.user, "Other");
	for (int i = 0; i < 5; i++)
		t_append(f.st, f.user, f.inbox, i % 2 ? msg1 : msg2);
	imap_session *s = logged_in(&f);
	io(s, "s SELECT INBOX\r\n");
	uint32_t x = 12345;
	int oks = 0;
	tj_buf b = TJ_BUF_INIT;
	for (int cmd = 0; cmd < 400 && !imap_session_wants_close(s); cmd++) {
		tj_buf_reset(&b);
		static const char *const pre[] = {
			"FETCH 1:* ", "UID FETCH 1:* ", "FETCH 2 ", "STORE 1:3 ", "UID STORE * ", "SEARCH ", "UID SEARCH ",
			"COPY 1:2 ", "UID MOVE 3 ", "APPEND INBOX ", "LIST \"\" ", "SELECT ", "EXPUNGE", "UID EXPUNGE 1:2",
			"IDLE", "STATUS INBOX ", "", "", "NOOP", "SELECT INBOX",
		};
		x = x * 1103515245u + 12345u;
		tj_buf_printf(&b, "r%d %s", cmd, pre[(x >> 16) % (sizeof(pre) / sizeof(pre[0]))]);
		int n = (int)((x >> 20) % 4);
		for (int k = 0; k < n; k++) {
			x = x * 1103515245u + 12345u;
			const char *t = tok[(x >> 16) % (sizeof(tok) / sizeof(tok[0]))];
			if (b.data[b.len - 1] != ' ')
				tj_buf_putc(&b, ' ');
			tj_buf_append(&b, t, t[0] == '~' ? strlen(t) + 1 : strlen(t));
		}
		if (b.data[b.len - 1] == ' ')
			tj_buf_truncate(&b, b.len - 1);
		tj_buf_puts(&b, "\r\n");
		if (cmd % 10 == 9)
			tj_buf_puts(&b, "\r\nDONE\r\nn NOOP\r\n"); /* end any IDLE, reset the BAD count */
		TJ_OKRC(imap_session_feed(s, b.data, b.len));
		TJ_OKRC(imap_session_run(s));
		const char *o = out(s);
		for (const char *p = o; (p = strstr(p, " OK ")); p++)
			oks++;
		if (getenv("TJ_VERBOSE"))
			fprintf(stderr, ">> %.*s<< %s", (int)b.len, (const char *)b.data, o);
	}
	if (getenv("TJ_VERBOSE"))
		fprintf(stderr, "random: %d OK responses\n", oks);
	TJ_ASSERT_INT(oks, >, 60);
	if (!imap_session_wants_close(s))
		CONTAINS(io(s, "\r\nDONE\r\nzz NOOP\r\n"), "zz OK NOOP completed.\r\n");
	tj_buf_free(&b);
	imap_session_free(&s);
	t_verify_clean(f.st);
	fx_close(&f);
}

/* two sessions on their own threads, writing and reading one mailbox at
 * once: the notifier and the store under ASan; each ends consistent */
struct thr {
	struct fx *f;
	int id;
	int oks;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	imap_session_config c = {.store = t->f->st, .notify = t->f->n, .auth = fake_auth};
	imap_session *s = NULL;
	if (imap_session_new(&c, &s))
		return NULL;
	tj_buf o = TJ_BUF_INIT, cmd = TJ_BUF_INIT;
	const char *script[] = {"LOGIN alice secret", "SELECT INBOX", "APPEND INBOX {5+}\r\nhello", "FETCH 1:* (FLAGS UID)",
				"STORE 1:* +FLAGS (\\Seen)", "UID SEARCH UNSEEN", "NOOP", "STORE 1 +FLAGS (\\Deleted)",
				"EXPUNGE", "UID FETCH 1:* (RFC822.SIZE)"};
	for (int i = 0; i < 200; i++) {
		tj_buf_reset(&cmd);
		tj_buf_printf(&cmd, "t%d.%d %s\r\n", t->id, i, i < 2 ? script[i] : script[2 + i % 8]);
		imap_session_feed(s, cmd.data, cmd.len);
		imap_session_run(s);
		tj_buf_reset(&o);
		imap_session_output(s, &o);
		char want[64];
		snprintf(want, sizeof(want), "t%d.%d OK", t->id, i);
		char empty[80]; /* the other thread may have emptied the mailbox */
		snprintf(empty, sizeof(empty), "t%d.%d BAD Invalid message number.", t->id, i);
		if (o.data && (strstr((char *)o.data, want) || strstr((char *)o.data, empty)))
			t->oks++;
		else if (getenv("TJ_VERBOSE"))
			fprintf(stderr, "%s=> %s", (char *)cmd.data, o.data ? (char *)o.data : "");
	}
	tj_buf_free(&o);
	tj_buf_free(&cmd);
	imap_session_free(&s);
	return NULL;
}

TJ_TEST(sessions_on_threads)
{
	struct fx f;
	fx_open(&f);
	struct thr a = {&f, 1, 0}, b = {&f, 2, 0};
	pthread_t ta, tb;
	TJ_ASSERT(pthread_create(&ta, NULL, thr_main, &a) == 0);
	TJ_ASSERT(pthread_create(&tb, NULL, thr_main, &b) == 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	TJ_ASSERT_INT(a.oks, ==, 200);
	TJ_ASSERT_INT(b.oks, ==, 200);
	t_verify_clean(f.st);
	fx_close(&f);
}
