/*
 * test-users.c - the site's users file (parse, refuse, round trip), the sync
 * plan, LDIF parsing, and tjstore-cli's users import/export/sync run as a
 * real process, against an LDIF file and against a real slapd started here
 * on a loopback port in the case's temp dir (skipped, with "skipped: ...",
 * when slapd is not installed or does not start).
 */
#include "cli/users-csv.h"
#include "cli/users-sync.h"
#include "common/err.h"
#include "store/store.h"
#include "tests/harness.h"
#include "tests/cli/cli-testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

/* ---- the users file ---- */

static void parse_ok(const char *text, tj_users_csv *f)
{
	char err[256];
	int rc = tj_users_csv_parse((const uint8_t *)text, strlen(text), f, err, sizeof(err));
	if (rc)
		TJ_FAIL("parse of \"%s\" failed: %s", text, err);
}

TJ_TEST(csv_valid)
{
	tj_users_csv f;
	parse_ok("alice,100,ldap,enabled\nbob,0,override,disabled\nc.d-e_f@x+y,1000000000,ldap,disabled\n", &f);
	TJ_ASSERT_INT(f.n, ==, 3);
	TJ_ASSERT(f.canonical);
	TJ_ASSERT_STR(f.rows[0].name, "alice");
	TJ_ASSERT_INT(f.rows[0].quota, ==, 100);
	TJ_ASSERT_INT(f.rows[0].source, ==, TJ_SOURCE_LDAP);
	TJ_ASSERT_INT(f.rows[0].state, ==, TJ_USER_ENABLED);
	TJ_ASSERT_INT(f.rows[1].source, ==, TJ_SOURCE_OVERRIDE);
	TJ_ASSERT_INT(f.rows[1].state, ==, TJ_USER_DISABLED);
	TJ_ASSERT_INT(f.rows[2].quota, ==, 1000000000);
	TJ_ASSERT_INT(f.rows[2].line, ==, 3);
	tj_users_csv_free(&f);
	parse_ok("", &f);
	TJ_ASSERT_INT(f.n, ==, 0);
	TJ_ASSERT(f.canonical);
	tj_users_csv_free(&f);
}

static const struct {
	const char *text, *why;
} not_canonical[] = {
	{"alice,1,ldap,enabled\r\nbob,2,ldap,enabled\r\n", "CRLF line end"},
	{"# users\nalice,1,ldap,enabled\n", "comment"},
	{"alice,1,ldap,enabled\n\nbob,2,ldap,enabled\n", "blank line"},
	{"username,quota,source,state\nalice,1,ldap,enabled\n", "header line"},
	{"bob,2,ldap,enabled\nalice,1,ldap,enabled\n", "not sorted by username"},
	{"alice,1,ldap,enabled", "no line end after the last line"},
};

TJ_TEST(csv_accepted_not_canonical)
{
	for (size_t i = 0; i < sizeof(not_canonical) / sizeof(not_canonical[0]); i++) {
		tj_users_csv f;
		parse_ok(not_canonical[i].text, &f);
		TJ_ASSERT(!f.canonical);
		TJ_ASSERT_STR(f.noncanon_why, not_canonical[i].why);
		TJ_ASSERT(f.n >= 1);
		TJ_ASSERT_STR(f.rows[f.n == 2 ? 1 : 0].name, f.n == 2 && i == 4 ? "alice" : f.n == 2 ? "bob" : "alice");
		/* writing it back gives the canonical form */
		tj_buf out = TJ_BUF_INIT;
		tj_users_csv_sort(f.rows, f.n);
		TJ_OKRC(tj_users_csv_write(f.rows, f.n, &out));
		TJ_ASSERT_STR((char *)out.data, f.n == 2 ? "alice,1,ldap,enabled\nbob,2,ldap,enabled\n"
							 : "alice,1,ldap,enabled\n");
		tj_buf_free(&out);
		tj_users_csv_free(&f);
	}
}

static const struct {
	const char *text, *err;
} invalid[] = {
	{"\"alice\",1,ldap,enabled\n", "line 1: quoted field"},
	{"alice, 1,ldap,enabled\n", "line 1: space or tab in field 2 (quota)"},
	{"alice,1,ldap,enabled \n", "line 1: space or tab in field 4 (state)"},
	{"alice,1\tx,ldap,enabled\n", "line 1: space or tab in field 2"},
	{"ok,1,ldap,enabled\nalice,1,ldap\n", "line 2: 3 fields, want 4"},
	{"alice,1,ldap,enabled,x\n", "line 1: 5 fields, want 4"},
	{"alice\n", "line 1: 1 field, want 4"},
	{"Alice,1,ldap,enabled\n", "line 1: upper-case letter in the user name"},
	{"al/ice,1,ldap,enabled\n", "line 1: user name has a character other than"},
	{",1,ldap,enabled\n", "line 1: empty user name"},
	{"alice,,ldap,enabled\n", "line 1: quota '' is not a whole number"},
	{"alice,abc,ldap,enabled\n", "line 1: quota 'abc'"},
	{"alice,-1,ldap,enabled\n", "line 1: quota '-1'"},
	{"alice,007,ldap,enabled\n", "line 1: quota '007'"},
	{"alice,1.5,ldap,enabled\n", "line 1: quota '1.5'"},
	{"alice,1000000001,ldap,enabled\n", "line 1: quota '1000000001'"},
	{"alice,1,LDAP,enabled\n", "line 1: source 'LDAP' is not ldap or override"},
	{"alice,1,local,enabled\n", "line 1: source 'local'"},
	{"alice,1,ldap,on\n", "line 1: state 'on' is not enabled or disabled"},
	{"alice,1,ldap,Enabled\n", "line 1: state 'Enabled'"},
	{"alice,1,ldap,enabled\nbob,1,ldap,enabled\nalice,2,ldap,enabled\n", "line 3: user alice is already on line 1"},
	{"alice,1,ldap,enab\x01led\n", "line 1: control character 0x01"},
	{"# x\n\nalice,1,ldap,enabled\nbob,1,ldap,enabled\rx\n", "line 4: control character 0x0d"},
};

TJ_TEST(csv_invalid_names_the_line)
{
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		tj_users_csv f;
		char err[256];
		int rc = tj_users_csv_parse((const uint8_t *)invalid[i].text, strlen(invalid[i].text), &f, err, sizeof(err));
		if (rc != TJ_EINVAL || strncmp(err, invalid[i].err, strlen(invalid[i].err)) != 0)
			TJ_FAIL("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, invalid[i].err);
		tj_users_csv_free(&f);
	}
	/* NUL byte and an over-long line */
	tj_users_csv f;
	char err[256];
	TJ_ASSERT_INT(tj_users_csv_parse((const uint8_t *)"a,1,ldap,enabled\nb\0,1,ldap,enabled\n", 36, &f, err,
					 sizeof(err)),
		      ==, TJ_EINVAL);
	TJ_ASSERT_STR(err, "line 2: NUL byte");
	tj_users_csv_free(&f);
	char longl[TJ_USERS_CSV_MAX_LINE + 100];
	memset(longl, 'a', sizeof(longl) - 1);
	longl[sizeof(longl) - 1] = 0;
	TJ_ASSERT_INT(tj_users_csv_parse((const uint8_t *)longl, strlen(longl), &f, err, sizeof(err)), ==, TJ_EINVAL);
	TJ_ASSERT_STR(err, "line 1: longer than 1024 bytes");
	tj_users_csv_free(&f);
}

TJ_TEST(csv_round_trip_exact)
{
	static const char *files[] = {
		"",
		"alice,100,ldap,enabled\n",
		("a,0,override,disabled\na.b,5,ldap,enabled\na@b,7,ldap,disabled\nb,1000000000,override,enabled\n"
		 "zz-top,42,ldap,enabled\n"),
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		tj_users_csv f;
		parse_ok(files[i], &f);
		TJ_ASSERT(f.canonical);
		tj_users_csv_sort(f.rows, f.n);
		tj_buf out = TJ_BUF_INIT;
		TJ_OKRC(tj_users_csv_write(f.rows, f.n, &out));
		TJ_ASSERT_MEM(out.data ? (char *)out.data : "", out.len, files[i], strlen(files[i]));
		tj_buf_free(&out);
		tj_users_csv_free(&f);
	}
	/* generated: 2000 users, sorted by name as the site writes them */
	tj_buf in = TJ_BUF_INIT, out = TJ_BUF_INIT;
	for (int i = 0; i < 2000; i++)
		tj_buf_printf(&in, "user%05d,%d,%s,%s\n", i, i * 7 % 1000, i % 3 ? "ldap" : "override",
			      i % 5 ? "enabled" : "disabled");
	tj_users_csv f;
	parse_ok((char *)in.data, &f);
	TJ_ASSERT(f.canonical);
	tj_users_csv_sort(f.rows, f.n);
	TJ_OKRC(tj_users_csv_write(f.rows, f.n, &out));
	TJ_ASSERT_MEM(out.data, out.len, in.data, in.len);
	tj_users_csv_free(&f);
	tj_buf_free(&in);
	tj_buf_free(&out);
	/* the writer refuses what the format cannot hold */
	tj_users_row bad = {.name = "Bad Name", .quota = 1};
	TJ_ASSERT_INT(tj_users_csv_write(&bad, 1, &out), ==, TJ_EINVAL);
	tj_buf_free(&out);
}

TJ_TEST(multiplier_and_bytes)
{
	uint32_t m;
	TJ_OKRC(tj_users_parse_multiplier("1", &m));
	TJ_ASSERT_INT(m, ==, 1000);
	TJ_OKRC(tj_users_parse_multiplier("1.5", &m));
	TJ_ASSERT_INT(m, ==, 1500);
	TJ_OKRC(tj_users_parse_multiplier("0.001", &m));
	TJ_ASSERT_INT(m, ==, 1);
	TJ_OKRC(tj_users_parse_multiplier("1000", &m));
	TJ_ASSERT_INT(m, ==, 1000000);
	static const char *bad[] = {"0", "1000.001", "-1", "abc", "1.2345", "1.", ".5", "1e3", "", "1 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TJ_ASSERT_INT(tj_users_parse_multiplier(bad[i], &m), ==, TJ_EINVAL);
	uint64_t b;
	TJ_OKRC(tj_users_quota_bytes(100, 1000, &b));
	TJ_ASSERT_INT(b, ==, 100ULL << 20);
	TJ_OKRC(tj_users_quota_bytes(100, 1500, &b));
	TJ_ASSERT_INT(b, ==, 150ULL << 20);
	TJ_OKRC(tj_users_quota_bytes(0, 1500, &b));
	TJ_ASSERT_INT(b, ==, 0);
	TJ_OKRC(tj_users_quota_bytes(TJ_USERS_QUOTA_MAX, TJ_USERS_MULT_MAX_MILLI, &b));
	int exact;
	TJ_ASSERT_INT(tj_users_quota_from_bytes(10ULL << 20, 1000, &exact), ==, 10);
	TJ_ASSERT(exact);
	TJ_ASSERT_INT(tj_users_quota_from_bytes((10ULL << 20) + 1, 1000, &exact), ==, 11);
	TJ_ASSERT(!exact);
}

/* ---- the sync plan ---- */

static uint32_t fake_id(const char *name)
{
	/* "mallory" collides with local "trent"; everything else is unique */
	if (strcmp(name, "mallory") == 0)
		return 777;
	uint32_t h = 5381;
	for (; *name; name++)
		h = h * 33 + (uint8_t)*name;
	return h | 0x10000;
}

static tj_sync_local L(const char *name, uint64_t q, int src, int state)
{
	uint64_t b;
	tj_users_quota_bytes(q, 1000, &b);
	return (tj_sync_local){name, strcmp(name, "trent") == 0 ? 777 : fake_id(name), q, b, (uint8_t)src,
			       (uint8_t)state};
}

static char *plan_text(const tj_sync_plan *p, int done)
{
	tj_buf b = TJ_BUF_INIT;
	for (size_t i = 0; i < p->n; i++) {
		TJ_OKRC(tj_sync_action_format(&p->v[i], done, &b));
		tj_buf_putc(&b, '\n');
	}
	tj_buf_putc(&b, 0);
	return (char *)tj_buf_steal(&b, NULL);
}

TJ_TEST(sync_groups_parse)
{
	tj_sync_groups g = {.n = 0};
	char err[256];
	TJ_OKRC(tj_sync_groups_parse("staff=100,Admins=500", &g, err, sizeof(err)));
	TJ_OKRC(tj_sync_groups_parse("x=0", &g, err, sizeof(err)));
	TJ_ASSERT_INT(g.n, ==, 3);
	TJ_ASSERT_INT(tj_sync_group_find(&g, "ADMINS", 6), ==, 1);
	TJ_ASSERT_INT(g.v[1].quota, ==, 500);
	static const char *bad[] = {"", "staff", "=5", "staff=", "staff=x", "staff=-1", "staff=1,", "staff=1,STAFF=2",
				    "a=10000000000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tj_sync_groups h = {.n = 0};
		if (tj_sync_groups_parse(bad[i], &h, err, sizeof(err)) != TJ_EINVAL)
			TJ_FAIL("--groups %s accepted", bad[i]);
	}
}

TJ_TEST(sync_plan_table)
{
	tj_sync_groups g = {.n = 0};
	char err[256];
	TJ_OKRC(tj_sync_groups_parse("staff=100,admins=500,interns=100,big=500", &g, err, sizeof(err)));
	tj_sync_dir d = {0};
	/* directory: new users, multi-group users (largest quota; tie: first group) */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 0, "newbie", 6));     /* create 100 */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 2, "Multi", 5));      /* interns 100 ... */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 3, "multi", 5));      /* big 500 */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 1, "MULTI", 5));      /* admins 500: tie, admins named first */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 0, "back", 4));       /* disabled locally: enable */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 1, "grow", 4));       /* 100 -> 500 */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 0, "same", 4));       /* nothing */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 1, "over", 4));       /* override: keep */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 0, "mallory", 7));    /* id collides with trent: refuse */
	TJ_OKRC(tj_sync_dir_add(&d, &g, 1, "backgrow", 8));   /* enable and set-quota */
	TJ_ASSERT_INT(tj_sync_dir_add(&d, &g, 0, "john doe", 8), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_sync_dir_add(&d, &g, 9, "x", 1), ==, TJ_EINVAL);
	tj_sync_dir_finish(&d, &g);
	TJ_ASSERT_INT(d.n, ==, 8);
	tj_sync_local local[] = {
		L("back", 100, TJ_SOURCE_LDAP, TJ_USER_DISABLED),
		L("grow", 100, TJ_SOURCE_LDAP, TJ_USER_ENABLED),
		L("same", 100, TJ_SOURCE_LDAP, TJ_USER_ENABLED),
		L("over", 3, TJ_SOURCE_OVERRIDE, TJ_USER_DISABLED),
		L("gone", 100, TJ_SOURCE_LDAP, TJ_USER_ENABLED),        /* disable */
		L("gonealready", 100, TJ_SOURCE_LDAP, TJ_USER_DISABLED),/* nothing */
		L("handmade", 7, TJ_SOURCE_OVERRIDE, TJ_USER_ENABLED),  /* keep */
		L("trent", 1, TJ_SOURCE_OVERRIDE, TJ_USER_ENABLED),     /* keep */
		L("backgrow", 100, TJ_SOURCE_LDAP, TJ_USER_DISABLED),
	};
	tj_sync_plan p;
	TJ_OKRC(tj_sync_plan_make(&d, &g, local, sizeof(local) / sizeof(local[0]), fake_id, 1000, &p));
	char *t = plan_text(&p, 0);
	TJ_ASSERT_STR(t, "enable back (ldap, group staff)\n"
			 "enable backgrow (ldap, group admins)\n"
			 "set-quota backgrow 100 -> 500 (ldap, group admins)\n"
			 "disable gone (ldap, in no mail group)\n"
			 "set-quota grow 100 -> 500 (ldap, group admins)\n"
			 "keep handmade (override)\n"
			 "refuse mallory: its id is taken by user trent (hash collision); not created\n"
			 "create multi quota 500 (ldap, group admins)\n"
			 "create newbie quota 100 (ldap, group staff)\n"
			 "keep over (override; in group admins)\n"
			 "keep trent (override)\n");
	free(t);
	TJ_ASSERT_INT(p.changes, ==, 7);
	TJ_ASSERT_INT(p.refused, ==, 1);
	t = plan_text(&p, 1);
	TJ_ASSERT(strstr(t, "created newbie quota 100 (ldap, group staff)\n"));
	TJ_ASSERT(strstr(t, "disabled gone (ldap, in no mail group)\n"));
	TJ_ASSERT(strstr(t, "set quota grow 100 -> 500"));
	free(t);
	tj_sync_plan_free(&p);
	/* a new multiplier: same numbers, different bytes -> set-quota */
	TJ_OKRC(tj_sync_plan_make(&d, &g, local + 2, 1, fake_id, 2000, &p));
	t = plan_text(&p, 0);
	TJ_ASSERT(strstr(t, "set-quota same 100 -> 100 (ldap, group staff; bytes 104857600 -> 209715200)\n"));
	free(t);
	tj_sync_plan_free(&p);
	/* the directory agrees with the local users: nothing but keeps */
	tj_sync_dir_free(&d);
	TJ_OKRC(tj_sync_dir_add(&d, &g, 0, "same", 4));
	tj_sync_dir_finish(&d, &g);
	TJ_OKRC(tj_sync_plan_make(&d, &g, local + 2, 2, fake_id, 1000, &p));
	TJ_ASSERT_INT(p.changes, ==, 0);
	TJ_ASSERT_INT(p.n, ==, 1);
	TJ_ASSERT_INT(p.v[0].kind, ==, TJ_SYNC_KEEP);
	tj_sync_plan_free(&p);
	tj_sync_dir_free(&d);
}

/* ---- LDIF ---- */

static const char ldif_text[] =
	"version: 1\n"
	"\n"
	"# people\n"
	"dn: uid=alice,ou=people,dc=test,dc=local\n"
	"objectClass: inetOrgPerson\n"
	"uid: alice\n"
	"cn: Alice\r\n"
	"description: folded over\n"
	"  two lines\n"
	"\n"
	"dn: CN=Bob Smith,OU=People,DC=test,DC=local\n"
	"objectClass: user\n"
	"sAMAccountName: Bob\n"
	"uid: bob\n"
	"\n"
	"dn:: Y249cm9vbSAxLG91PXJvb21zLGRjPXRlc3QsZGM9bG9jYWw=\n"
	"objectClass: device\n"
	"cn: room 1\n"
	"\n"
	"\n"
	"dn: cn=Staff,ou=groups,dc=test,dc=local\n"
	"objectClass: top\n"
	"objectClass: groupOfNames\n"
	"cn: Staff\n"
	"member: uid=alice,ou=people,\n"
	" dc=test,dc=local\n"
	"member: cn=bob smith, ou=people, dc=test, dc=local\n"
	"member: cn=room 1,ou=rooms,dc=test,dc=local\n"
	"member: uid=ghost,ou=people,dc=test,dc=local\n"
	"\n"
	"dn: cn=admins,ou=groups,dc=test,dc=local\n"
	"objectClass: posixGroup\n"
	"cn: admins\n"
	"gidNumber: 500\n"
	"memberUid: carol\n"
	"memberUid:: Ym9i\n"
	"memberUid: not valid\n"
	"\n"
	"dn: cn=other,ou=groups,dc=test,dc=local\n"
	"objectClass: posixGroup\n"
	"cn: other\n"
	"memberUid: zed\n";

TJ_TEST(ldif_parse)
{
	tj_ldif l;
	char err[256];
	TJ_OKRC(tj_ldif_parse((const uint8_t *)ldif_text, sizeof(ldif_text) - 1, &l, err, sizeof(err)));
	TJ_ASSERT_INT(l.n, ==, 6);
	TJ_ASSERT_STR(l.e[0].dn, "uid=alice,ou=people,dc=test,dc=local");
	TJ_ASSERT_INT(l.e[0].line, ==, 4);
	TJ_ASSERT_INT(l.e[0].n, ==, 4);
	TJ_ASSERT_STR(l.e[0].v[2].val, "Alice");
	TJ_ASSERT_STR(l.e[0].v[3].val, "folded over two lines");
	TJ_ASSERT_STR(l.e[2].dn, "cn=room 1,ou=rooms,dc=test,dc=local");
	TJ_ASSERT_STR(l.e[3].v[3].val, "uid=alice,ou=people,dc=test,dc=local");
	TJ_ASSERT_STR(l.e[4].v[4].val, "bob");
	tj_ldif_free(&l);

	static const struct {
		const char *text, *err;
	} bad[] = {
		{"uid: x\n", "line 1: a record must start with dn:"},
		{"dn: cn=x\nchangetype: modify\n", "line 2: change records are not supported"},
		{"dn: cn=x\njpegPhoto:< file:///etc/passwd\n", "line 2: URL values"},
		{"dn: cn=x\nno colon here\n", "line 2: not 'attribute: value'"},
		{" continued\n", "line 1: continuation line with nothing to continue"},
		{"dn: cn=x\ncn:: !!!!\n", "line 2: bad base64 value"},
		{"dn: cn=x\nbad attr: y\n", "line 2: bad attribute name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = tj_ldif_parse((const uint8_t *)bad[i].text, strlen(bad[i].text), &l, err, sizeof(err));
		if (rc != TJ_EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
			TJ_FAIL("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, bad[i].err);
		tj_ldif_free(&l);
	}
	char n[128];
	tj_dn_normalize(" CN=Bob Smith , OU=People,DC=x ", n, sizeof(n));
	TJ_ASSERT_STR(n, "cn=bob smith,ou=people,dc=x");
}

TJ_TEST(ldif_mapping)
{
	tj_ldif l;
	char err[256];
	TJ_OKRC(tj_ldif_parse((const uint8_t *)ldif_text, sizeof(ldif_text) - 1, &l, err, sizeof(err)));
	tj_sync_groups g = {.n = 0};
	TJ_OKRC(tj_sync_groups_parse("staff=100,admins=500,missing=1", &g, err, sizeof(err)));
	tj_dir_attrs a;
	tj_dir_attrs_default(&a);
	tj_sync_dir d = {0};
	tj_buf warn = TJ_BUF_INIT;
	TJ_OKRC(tj_sync_from_ldif(&l, &a, &g, &d, &warn));
	TJ_ASSERT(g.v[0].found && g.v[1].found && !g.v[2].found);
	/* alice (staff 100), bob (uid attr of the AD-style entry; staff + admins: 500), carol (admins) */
	TJ_ASSERT_INT(d.n, ==, 3);
	TJ_ASSERT_STR(d.v[0].name, "alice");
	TJ_ASSERT_INT(d.v[0].quota, ==, 100);
	TJ_ASSERT_STR(d.v[1].name, "bob");
	TJ_ASSERT_INT(d.v[1].quota, ==, 500);
	TJ_ASSERT_INT(d.v[1].group, ==, 1);
	TJ_ASSERT_STR(d.v[2].name, "carol");
	TJ_ASSERT(strstr((char *)warn.data, "member cn=room 1,ou=rooms,dc=test,dc=local is not a user entry"));
	TJ_ASSERT(strstr((char *)warn.data, "member uid=ghost,ou=people,dc=test,dc=local is not a user entry"));
	TJ_ASSERT(strstr((char *)warn.data, "'not valid' is not a valid mail user name"));
	tj_sync_dir_free(&d);
	tj_buf_free(&warn);
	/* AD attribute names: sAMAccountName gives "Bob" -> bob */
	a.user_attr = "sAMAccountName";
	g.v[0].found = g.v[1].found = 0;
	TJ_OKRC(tj_sync_from_ldif(&l, &a, &g, &d, &warn));
	TJ_ASSERT_INT(d.n, ==, 2); /* alice has no sAMAccountName: warned */
	TJ_ASSERT_STR(d.v[0].name, "bob");
	TJ_ASSERT_STR(d.v[1].name, "carol");
	tj_sync_dir_free(&d);
	tj_buf_free(&warn);
	tj_ldif_free(&l);
}

/* ---- tjstore-cli as a process ---- */


static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	TJ_ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	TJ_ASSERT(f != NULL);
	tj_buf b = TJ_BUF_INIT;
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		tj_buf_append(&b, buf, k);
	tj_buf_putc(&b, 0);
	fclose(f);
	return (char *)tj_buf_steal(&b, NULL);
}

TJ_TEST(cli_import_export_round_trip)
{
	const char *t = tj_test_tmpdir();
	char dd[512], p[600], q[600];
	tj_buf out = TJ_BUF_INIT;
	snprintf(dd, sizeof(dd), "%s/data", t);
	static const char site[] = "alice,100,ldap,enabled\nbob,0,override,disabled\ncarol,25,ldap,disabled\n";
	snprintf(p, sizeof(p), "%s/users.csv", t);
	write_file(p, site);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s --multiplier 1.5", dd, p), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "import: 3 created, 0 updated, 0 unchanged, 0 failed"));
	snprintf(q, sizeof(q), "%s/out.csv", t);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export %s --multiplier 1.5", dd, q), ==, 0);
	char *got = slurp(q);
	TJ_ASSERT_STR(got, site);
	free(got);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT_STR((char *)out.data, site);
	/* quota bytes = quota x multiplier MiB; default mailboxes */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users show alice", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "quota 157286400 bytes"));
	TJ_ASSERT(strstr((char *)out.data, "Junk") && strstr((char *)out.data, "Sent"));
	/* import again: unchanged; then a change */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s --multiplier 1.5", dd, p), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "import: 0 created, 0 updated, 3 unchanged, 0 failed"));
	write_file(p, "# hand edit\r\ncarol,30,override,enabled\r\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s --multiplier 1.5", dd, p), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "line 2: updated carol: quota 25 -> 30 source ldap -> override disabled -> enabled"));
	TJ_ASSERT(strstr(last_stderr(), "note: "));
	TJ_ASSERT(strstr(last_stderr(), "line 1: CRLF line end"));
	/* a bad file changes nothing and names the line */
	write_file(p, "dave,1,ldap,enabled\nerin,1,ldap,maybe\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s", dd, p), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "line 2: state 'maybe' is not enabled or disabled; nothing imported"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users show dave", dd), ==, 1);
	/* usage errors */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s --multiplier 0", dd, p), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s/nonexistent", dd, t), ==, 1);
	/* a user made by hand with a byte quota exports with a quota number */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add frank --quota 10M", dd), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "frank,10,override,enabled\n"));
	tj_buf_free(&out);
}

struct idname {
	uint32_t id;
	char name[16];
};

static int cmp_idname(const void *a, const void *b)
{
	uint32_t x = ((const struct idname *)a)->id, y = ((const struct idname *)b)->id;
	return x < y ? -1 : x > y;
}

TJ_TEST(cli_import_refuses_id_collision)
{
	/* find two names whose 32-bit ids collide (birthday: a few in 300k) */
	enum { N = 300000 };
	struct idname *v = malloc(N * sizeof(*v));
	TJ_ASSERT(v != NULL);
	for (int i = 0; i < N; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "u%d", i);
		v[i].id = tj_store_user_id(v[i].name);
	}
	qsort(v, N, sizeof(*v), cmp_idname);
	int k = -1;
	for (int i = 1; i < N && k < 0; i++)
		if (v[i].id == v[i - 1].id)
			k = i;
	if (k < 0) {
		printf("skipped: no id collision among %d names\n", N);
		free(v);
		return;
	}
	const char *t = tj_test_tmpdir();
	char dd[512], p[600], line[200];
	tj_buf out = TJ_BUF_INIT;
	snprintf(dd, sizeof(dd), "%s/data", t);
	snprintf(p, sizeof(p), "%s/users.csv", t);
	snprintf(line, sizeof(line), "%s,5,ldap,enabled\n", v[k - 1].name);
	write_file(p, line);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s", dd, p), ==, 0);
	snprintf(line, sizeof(line), "aaa,1,ldap,enabled\n%s,9,override,disabled\n", v[k].name);
	write_file(p, line);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s", dd, p), ==, 1);
	char want[300];
	snprintf(want, sizeof(want), "line 2: user %s has the same id (%u) as existing user %s", v[k].name, v[k].id,
		 v[k - 1].name);
	TJ_ASSERT(strstr(last_stderr(), want));
	TJ_ASSERT(strstr(last_stderr(), "not imported"));
	TJ_ASSERT(strstr((char *)out.data, "import: 1 created, 0 updated, 0 unchanged, 1 failed"));
	/* the existing user is untouched, the other line went in */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	snprintf(want, sizeof(want), "aaa,1,ldap,enabled\n%s,5,ldap,enabled\n", v[k - 1].name);
	TJ_ASSERT_STR((char *)out.data, want);
	free(v);
	tj_buf_free(&out);
}

TJ_TEST(cli_sync_ldif)
{
	const char *t = tj_test_tmpdir();
	char dd[512], p[600], csv[600];
	tj_buf out = TJ_BUF_INIT;
	snprintf(dd, sizeof(dd), "%s/data", t);
	snprintf(p, sizeof(p), "%s/dir.ldif", t);
	write_file(p, ldif_text);
	snprintf(csv, sizeof(csv), "%s/users.csv", t);
	write_file(csv, "alice,5,ldap,disabled\nolga,1,override,enabled\nzed,3,ldap,enabled\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s", dd, csv), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --groups staff=100,admins=500 -v", dd, p), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "enable alice (ldap, group staff)\n"
					"set-quota alice 5 -> 100 (ldap, group staff)\n"
					"create bob quota 500 (ldap, group admins)\n"
					"create carol quota 500 (ldap, group admins)\n"
					"keep olga (override)\n"
					"disable zed (ldap, in no mail group)\n");
	TJ_ASSERT(strstr(last_stderr(), "warning: group staff: member uid=ghost"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "alice,5,ldap,disabled\nolga,1,override,enabled\nzed,3,ldap,enabled\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --groups staff=100,admins=500 --apply", dd, p), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "enabled alice (ldap, group staff)\n"
					"set quota alice 5 -> 100 (ldap, group staff)\n"
					"created bob quota 500 (ldap, group admins)\n"
					"created carol quota 500 (ldap, group admins)\n"
					"disabled zed (ldap, in no mail group)\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --groups staff=100,admins=500", dd, p), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "nothing to do\n");
	/* a group missing from the directory: nothing done, exit 1 */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --groups staff=100,nosuch=1 --apply", dd, p), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "group nosuch is not in the directory; nothing done"));
	/* usage */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s", dd, p), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --groups a=1", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --ldap ldap://x/ --groups a=1", dd, p), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldap ldap://x/ --base dc=x --bind-dn cn=a --groups a=1", dd),
		      ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users sync --ldif %s --groups a", dd, p), ==, 2);
	tj_buf_free(&out);
}

/* ---- against a real slapd ---- */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

static int port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static const char slapd_ldif[] =
	"dn: dc=test,dc=local\nobjectClass: dcObject\nobjectClass: organization\ndc: test\no: Test\n\n"
	"dn: ou=people,dc=test,dc=local\nobjectClass: organizationalUnit\nou: people\n\n"
	"dn: ou=groups,dc=test,dc=local\nobjectClass: organizationalUnit\nou: groups\n\n"
	"dn: uid=alice,ou=people,dc=test,dc=local\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice\nsn: A\n\n"
	"dn: uid=bob,ou=people,dc=test,dc=local\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\nsn: B\n\n"
	"dn: cn=Carol Jones,ou=people,dc=test,dc=local\nobjectClass: inetOrgPerson\nuid: Carol\ncn: Carol Jones\nsn: J\n\n"
	"dn: uid=olga,ou=people,dc=test,dc=local\nobjectClass: inetOrgPerson\nuid: olga\ncn: Olga\nsn: O\n\n"
	"dn: cn=mailstaff,ou=groups,dc=test,dc=local\nobjectClass: posixGroup\ncn: mailstaff\ngidNumber: 5000\n"
	"memberUid: alice\nmemberUid: bob\nmemberUid: olga\n\n"
	"dn: cn=mailadmins,ou=groups,dc=test,dc=local\nobjectClass: groupOfNames\ncn: mailadmins\n"
	"member: uid=bob,ou=people,dc=test,dc=local\nmember: cn=Carol Jones,ou=people,dc=test,dc=local\n\n"
	"dn: cn=unrelated,ou=groups,dc=test,dc=local\nobjectClass: posixGroup\ncn: unrelated\ngidNumber: 5001\n"
	"memberUid: zed\n";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fflush(NULL);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TJ_TEST(cli_sync_slapd)
{
	const char *t = tj_test_tmpdir();
	if (access("/usr/sbin/slapd", X_OK) || access("/usr/sbin/slapadd", X_OK) ||
	    access("/etc/ldap/schema/nis.schema", R_OK)) {
		printf("skipped: slapd is not installed (apt-get install slapd ldap-utils)\n");
		return;
	}
	char L[512], conf[600], p[600], dd[600], pw[600];
	snprintf(L, sizeof(L), "%s/ldap", t);
	snprintf(p, sizeof(p), "%s/db", L);
	TJ_ASSERT_INT(mkdir(L, 0700), ==, 0);
	TJ_ASSERT_INT(mkdir(p, 0700), ==, 0);
	snprintf(conf, sizeof(conf), "%s/slapd.conf", L);
	{
		FILE *f = fopen(conf, "w");
		TJ_ASSERT(f != NULL);
		fprintf(f,
			"include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n"
			"include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n"
			"modulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile %s/slapd.pid\n"
			"database mdb\nmaxsize 16777216\nsuffix \"dc=test,dc=local\"\nrootdn \"cn=admin,dc=test,dc=local\"\n"
			"rootpw secret\ndirectory %s/db\n",
			L, L);
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/init.ldif", L);
	write_file(p, slapd_ldif);
	if (sh("slapadd -f %s -l %s > %s/slapadd.log 2>&1", conf, p, L)) {
		printf("skipped: slapadd failed (see %s/slapadd.log)\n", L);
		return;
	}
	int port = free_port();
	TJ_ASSERT(port > 0);
	char uri[64];
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d/", port);
	/* -d 0: slapd stays in the foreground, in this case's process group,
	 * so the runner kills it even if an assertion ends the case early */
	fflush(NULL);
	pid_t pid = fork();
	TJ_ASSERT(pid >= 0);
	if (pid == 0) {
		char logp[700];
		snprintf(logp, sizeof(logp), "%s/slapd.log", L);
		int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/sbin/slapd", "slapd", "-d", "0", "-f", conf, "-h", uri, (char *)NULL);
		_exit(127);
	}
	int up = 0;
	for (int i = 0; i < 100 && !up; i++) { /* at most 10 s */
		up = port_open(port);
		if (!up) {
			int st;
			if (waitpid(pid, &st, WNOHANG) == pid)
				break;
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (!up) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		printf("skipped: slapd did not start on %s (see its log)\n", uri);
		return;
	}
	tj_buf out = TJ_BUF_INIT;
	snprintf(dd, sizeof(dd), "%s/data", t);
	snprintf(pw, sizeof(pw), "%s/bindpw", t);
	write_file(pw, "secret\n");
	snprintf(p, sizeof(p), "%s/users.csv", t);
	write_file(p, "olga,50,override,enabled\nzed,10,ldap,enabled\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users import %s", dd, p), ==, 0);
	char sync[2000];
	snprintf(sync, sizeof(sync),
		 "--data-dir %s users sync --ldap %s --base dc=test,dc=local --bind-dn cn=admin,dc=test,dc=local "
		 "--bind-pw-file %s --timeout 10",
		 dd, uri, pw);
	/* dry run: the exact plan, nothing changed */
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=500", sync), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "create alice quota 100 (ldap, group mailstaff)\n"
					"create bob quota 500 (ldap, group mailadmins)\n"
					"create carol quota 500 (ldap, group mailadmins)\n"
					"disable zed (ldap, in no mail group)\n");
	TJ_ASSERT(strstr(last_stderr(), "dry run: 4 changes planned, none made"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "olga,50,override,enabled\nzed,10,ldap,enabled\n");
	/* -v shows the override user left alone */
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=500 -v", sync), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "keep olga (override; in group mailstaff)\n"));
	/* --apply performs it */
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=500 --apply", sync), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "created alice quota 100 (ldap, group mailstaff)\n"
					"created bob quota 500 (ldap, group mailadmins)\n"
					"created carol quota 500 (ldap, group mailadmins)\n"
					"disabled zed (ldap, in no mail group)\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "alice,100,ldap,enabled\nbob,500,ldap,enabled\ncarol,500,ldap,enabled\n"
					"olga,50,override,enabled\nzed,10,ldap,disabled\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users show carol", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "INBOX") && strstr((char *)out.data, "Drafts") &&
		  strstr((char *)out.data, "Trash") && strstr((char *)out.data, "Junk"));
	TJ_ASSERT(strstr((char *)out.data, "quota 524288000 bytes"));
	/* a second dry run: nothing to do */
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=500", sync), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "nothing to do\n");
	/* alice leaves the group; the admins' quota grows */
	snprintf(p, sizeof(p), "%s/mod.ldif", L);
	write_file(p, "dn: cn=mailstaff,ou=groups,dc=test,dc=local\nchangetype: modify\ndelete: memberUid\n"
		      "memberUid: alice\n");
	TJ_ASSERT_INT(sh("timeout 20 ldapmodify -x -H %s -D cn=admin,dc=test,dc=local -w secret -f %s > %s/mod.log 2>&1",
			 uri, p, L),
		      ==, 0);
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=600", sync), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "disable alice (ldap, in no mail group)\n"
					"set-quota bob 500 -> 600 (ldap, group mailadmins)\n"
					"set-quota carol 500 -> 600 (ldap, group mailadmins)\n");
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,mailadmins=600 --apply", sync), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT_STR((char *)out.data, "alice,100,ldap,disabled\nbob,600,ldap,enabled\ncarol,600,ldap,enabled\n"
					"olga,50,override,enabled\nzed,10,ldap,disabled\n");
	/* wrong password, a missing group, StartTLS on a server without TLS: exit 1, nothing done */
	write_file(pw, "wrong\n");
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100", sync), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "bind to ldap://127.0.0.1:"));
	TJ_ASSERT(strstr(last_stderr(), "Invalid credentials"));
	write_file(pw, "secret\n");
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100,nosuch=5 --apply", sync), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "group nosuch is not in the directory"));
	TJ_ASSERT_INT(cli(&out, "%s --groups mailstaff=100 --starttls", sync), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "StartTLS with ldap://127.0.0.1:"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users export", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "bob,600,ldap,enabled\n"));
	/* stop slapd by its pid file (it is our child: reap it), bounded */
	char pidf[700];
	snprintf(pidf, sizeof(pidf), "%s/slapd.pid", L);
	char *ps = slurp(pidf);
	pid_t spid = (pid_t)atoi(ps);
	free(ps);
	TJ_ASSERT_INT(spid, ==, pid);
	kill(spid, SIGTERM);
	int st, gone = 0;
	for (int i = 0; i < 100 && !gone; i++) {
		gone = waitpid(pid, &st, WNOHANG) == pid;
		if (!gone) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	if (!gone) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	tj_buf_free(&out);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}
