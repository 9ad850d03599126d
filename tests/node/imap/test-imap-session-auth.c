/*
 * test-imap-session-auth.c - group 1: greeting, CAPABILITY, NOOP, LOGOUT,
 * LOGIN, AUTHENTICATE PLAIN, ID, ENABLE, NAMESPACE, BAD handling and
 * hostile input.  Included by test-imap-session.c.
 */

TJ_TEST(greeting_and_capability)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, true, true);
	const char *g = out(s);
	CONTAINS(g, "* OK [CAPABILITY IMAP4rev1 ");
	CONTAINS(g, " STARTTLS LOGINDISABLED] test ready.\r\n");
	LACKS(g, "AUTH=PLAIN");
	const char *o = io(s, "a1 CAPABILITY\r\n");
	CONTAINS(o, "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE");
	CONTAINS(o, "\r\na1 OK Capability completed.\r\n");
	EXPECT(io(s, "a2 NOOP\r\n"), "a2 OK NOOP completed.\r\n");
	EXPECT(io(s, "a3 NOOP extra\r\n"), "a3 BAD NOOP takes no arguments.\r\n");
	/* LOGINDISABLED: no password over plaintext */
	EXPECT(io(s, "a4 LOGIN alice secret\r\n"),
	       "a4 NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.\r\n");
	TJ_ASSERT_INT(f.auth_calls, ==, 0);
	EXPECT(io(s, "a5 LOGOUT\r\n"), "* BYE Logging out.\r\na5 OK Logout completed.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	imap_session_free(&s);
	TJ_ASSERT(s == NULL);
	fx_close(&f);
}

TJ_TEST(starttls_discards_pipelined_input)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, true, true);
	out(s);
	EXPECT(io(s, "t STARTTLS\r\nx LOGIN alice secret\r\n"), "t OK Begin TLS negotiation now.\r\n");
	TJ_ASSERT(imap_session_starttls_pending(s));
	TJ_OKRC(imap_session_feed(s, "y NOOP\r\n", 8)); /* plaintext injection: dropped */
	TJ_OKRC(imap_session_run(s));
	EXPECT(out(s), "");
	imap_session_tls_started(s);
	const char *o = io(s, "c CAPABILITY\r\n");
	LACKS(o, "STARTTLS");
	LACKS(o, "LOGINDISABLED");
	CONTAINS(o, "AUTH=PLAIN");
	CONTAINS(io(s, "l LOGIN alice secret\r\n"), "l OK [CAPABILITY");
	TJ_ASSERT_INT(f.auth_calls, ==, 1);
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(login_results)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	EXPECT(io(s, "a LOGIN alice wrong\r\n"), "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(io(s, "b LOGIN down x\r\n"),
	       "b NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n");
	/* authenticates, but the store has no such user */
	EXPECT(io(s, "c LOGIN ghost secret\r\n"), "c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(io(s, "d SELECT INBOX\r\n"), "d BAD Command not allowed before authentication.\r\n");
	const char *o = io(s, "e LOGIN \"alice\" {6+}\r\nsecret\r\n");
	CONTAINS(o, "e OK [CAPABILITY IMAP4rev1 ");
	LACKS(o, "AUTH=PLAIN");
	TJ_ASSERT_STR(imap_session_user(s), "alice");
	EXPECT(io(s, "f LOGIN alice secret\r\n"), "f BAD Command not allowed after authentication.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(too_many_auth_failures_says_bye)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	io(s, "a LOGIN alice x\r\n");
	io(s, "b LOGIN alice y\r\n");
	const char *o = io(s, "c LOGIN alice z\r\nd LOGIN alice secret\r\n");
	EXPECT(o, "c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* BYE Too many authentication failures.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	TJ_ASSERT_INT(f.auth_calls, ==, 3);
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(authenticate_plain)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	/* "\0alice\0secret" */
	CONTAINS(io(s, "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "a OK [CAPABILITY");
	imap_session_free(&s);

	s = sess_cfg(&f, false, false);
	out(s);
	EXPECT(io(s, "b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
	EXPECT(io(s, "*\r\n"), "b BAD Authentication aborted by client.\r\n");
	EXPECT(io(s, "c AUTHENTICATE PLAIN\r\n"), "+ \r\n");
	EXPECT(io(s, "!!notbase64\r\n"), "c BAD Invalid base64 in SASL response.\r\n");
	EXPECT(io(s, "d AUTHENTICATE GSSAPI\r\n"), "d NO [CANNOT] Unsupported authentication mechanism.\r\n");
	/* authzid must be the user: "bob\0alice\0secret" */
	EXPECT(io(s, "e AUTHENTICATE PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n"),
	       "e NO [AUTHORIZATIONFAILED] Authorization identity must be the user name.\r\n");
	EXPECT(io(s, "f AUTHENTICATE PLAIN\r\n"), "+ \r\n");
	/* "alice\0alice\0secret", one byte at a time */
	CONTAINS(io_bytewise(s, "YWxpY2UAYWxpY2UAc2VjcmV0\r\n"), "f OK [CAPABILITY");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(id_enable_namespace)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	EXPECT(io(s, "i ID (\"name\" \"mutt\" \"version\" NIL)\r\n"),
	       "* ID (\"name\" \"tjstore\" \"vendor\" \"TJHSST\")\r\ni OK ID completed.\r\n");
	EXPECT(io(s, "j ID (\"name\")\r\n"), "j BAD ID list must hold at most 30 field-value pairs.\r\n");
	EXPECT(io(s, "k ID NIL\r\n"), "* ID (\"name\" \"tjstore\" \"vendor\" \"TJHSST\")\r\nk OK ID completed.\r\n");
	EXPECT(io(s, "e ENABLE CONDSTORE\r\n"), "e BAD Command not allowed before authentication.\r\n");
	io(s, "l LOGIN alice secret\r\n");
	EXPECT(io(s, "e ENABLE QRESYNC X-UNKNOWN\r\n"), "* ENABLED CONDSTORE QRESYNC\r\ne OK Enabled.\r\n");
	EXPECT(io(s, "e2 ENABLE CONDSTORE\r\n"), "* ENABLED\r\ne2 OK Enabled.\r\n");
	EXPECT(io(s, "e3 ENABLE\r\n"), "e3 BAD ENABLE needs at least one capability.\r\n");
	EXPECT(io(s, "n NAMESPACE\r\n"), "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nn OK Namespace completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(bad_commands_get_tagged_bad_and_session_goes_on)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = logged_in(&f);
	EXPECT(io(s, "x FROBNICATE\r\n"), "x BAD Unknown command.\r\n");
	EXPECT(io(s, "y FETCH 1 FLAGS\r\n"), "y BAD No mailbox selected.\r\n");
	const char *o = io(s, "z LIST (\r\n");
	CONTAINS(o, "z BAD ");
	o = io(s, "\"unterminated\r\n");
	CONTAINS(o, "BAD");
	EXPECT(io(s, "ok NOOP\r\n"), "ok OK NOOP completed.\r\n");
	TJ_ASSERT(!imap_session_wants_close(s));
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(too_many_bads_before_login_says_bye)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	tj_buf all = TJ_BUF_INIT;
	for (int i = 0; i < IMAP_SESSION_MAX_BAD_PREAUTH; i++)
		tj_buf_printf(&all, "g%d GARBAGE\r\n", i);
	const char *o = io(s, (const char *)all.data);
	CONTAINS(o, "g0 BAD Unknown command.\r\n");
	CONTAINS(o, "* BYE Too many invalid commands.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	/* nothing more is executed or even accepted */
	TJ_OKRC(imap_session_feed(s, "h NOOP\r\n", 8));
	TJ_OKRC(imap_session_run(s));
	EXPECT(out(s), "");
	tj_buf_free(&all);
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(huge_literal_before_login_is_refused)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	/* a synchronizing literal: BAD instead of "+", the client sends nothing */
	const char *o = io(s, "a LOGIN {100000000}\r\n");
	CONTAINS(o, "a BAD ");
	LACKS(o, "+ Ready");
	EXPECT(io(s, "b NOOP\r\n"), "b OK NOOP completed.\r\n");
	/* a non-synchronizing one: refused, and the session closes */
	o = io(s, "c LOGIN {50000+}\r\nxxxx");
	CONTAINS(o, "c BAD ");
	CONTAINS(o, "* BYE");
	TJ_ASSERT(imap_session_wants_close(s));
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(deep_nesting_and_garbage)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = logged_in(&f);
	tj_buf b = TJ_BUF_INIT;
	tj_buf_puts(&b, "n ID ");
	for (int i = 0; i < 200; i++)
		tj_buf_putc(&b, '(');
	tj_buf_puts(&b, "\r\n");
	CONTAINS(io(s, (const char *)b.data), "n BAD ");
	/* binary garbage, NULs included */
	static const char junk[] = "\x01\x02\xff\xfe junk \x00 more\r\n";
	TJ_OKRC(imap_session_feed(s, junk, sizeof(junk) - 1));
	TJ_OKRC(imap_session_run(s));
	CONTAINS(out(s), "BAD");
	EXPECT(io(s, "ok NOOP\r\n"), "ok OK NOOP completed.\r\n");
	/* an over-long line */
	tj_buf_reset(&b);
	tj_buf_puts(&b, "long NOOP ");
	for (int i = 0; i < IMAP_MAX_LINE + 100; i++)
		tj_buf_putc(&b, 'a');
	tj_buf_puts(&b, "\r\nok2 NOOP\r\n");
	const char *o = io(s, (const char *)b.data);
	CONTAINS(o, "BAD");
	CONTAINS(o, "ok2 OK NOOP completed.\r\n");
	tj_buf_free(&b);
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(one_byte_at_a_time)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	const char *o = io_bytewise(s, "a LOGIN {5}\r\nalice {6}\r\nsecret\r\nb NOOP\r\n");
	CONTAINS(o, "+ Ready for literal data\r\n");
	CONTAINS(o, "a OK [CAPABILITY");
	CONTAINS(o, "b OK NOOP completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(pipelining_and_feed_limit)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	/* several commands in one read, answered in order */
	EXPECT(io(s, "a NOOP\r\nb LOGIN alice secret\r\nc NAMESPACE\r\n"),
	       fmt("a OK NOOP completed.\r\nb OK [CAPABILITY %s] Logged in.\r\n"
		   "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nc OK Namespace completed.\r\n",
		   "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "
		   "LIST-EXTENDED LIST-STATUS SPECIAL-USE QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE "
		   "CONDSTORE QRESYNC ESEARCH"));
	TJ_ASSERT(!imap_session_needs_run(s));
	imap_session_free(&s);
	/* before login, unprocessed input is capped */
	s = sess_cfg(&f, false, false);
	static char chunk[IMAP_SESSION_MAX_INPUT_PREAUTH];
	memset(chunk, 'a', sizeof(chunk));
	TJ_OKRC(imap_session_feed(s, chunk, sizeof(chunk)));
	TJ_ASSERT_INT(imap_session_feed(s, "x", 1), ==, TJ_ETOOBIG);
	TJ_ASSERT(imap_session_needs_run(s));
	TJ_OKRC(imap_session_run(s));
	TJ_OKRC(imap_session_feed(s, "\r\nz NOOP\r\n", 10));
	TJ_OKRC(imap_session_run(s));
	const char *o = out(s);
	CONTAINS(o, "BAD");
	CONTAINS(o, "z OK NOOP completed.\r\n");
	imap_session_free(&s);
	fx_close(&f);
}

TJ_TEST(timeouts_and_bye)
{
	struct fx f;
	fx_open(&f);
	imap_session *s = sess_cfg(&f, false, false);
	out(s);
	TJ_ASSERT_INT(imap_session_timeout_ms(s), ==, IMAP_SESSION_TIMEOUT_PREAUTH_MS);
	io(s, "a LOGIN alice secret\r\n");
	TJ_ASSERT_INT(imap_session_timeout_ms(s), ==, IMAP_SESSION_TIMEOUT_MS);
	imap_session_bye(s, "Autologout; idle for too long.");
	EXPECT(out(s), "* BYE Autologout; idle for too long.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	TJ_ASSERT(!imap_session_needs_run(s));
	imap_session_free(&s);
	fx_close(&f);
}
