/*
 * fuzz-smtp.c - libFuzzer target for protocol/smtp: the input is a client's
 * byte stream (commands and DATA), fed to a session in pseudo-random chunks
 * while a scripted server answers every decision (also pseudo-randomly,
 * LMTP answers out of order, STARTTLS handshakes, shutdowns).  The chunking,
 * configuration and answers come from a hash of the input, so seeds stay
 * plain SMTP sessions.
 *
 * Checked besides memory safety: every reply line is "ddd[ -]...CRLF";
 * DATA chunks are non-empty and add up to the reported message size; the
 * DATA decoder gives the same result whole and in chunks.
 */
#include "common/buf.h"
#include "common/err.h"
#include "protocol/smtp/smtp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(r->s >> 33);
}

static void check_output(tj_buf *out)
{
	size_t i = 0;
	while (i < out->len) {
		const uint8_t *p = out->data + i;
		const uint8_t *nl = memchr(p, '\n', out->len - i);
		if (!nl || nl == p || nl[-1] != '\r')
			abort();
		size_t n = (size_t)(nl - p) + 1;
		if (n < 6 || p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
		    (p[3] != ' ' && p[3] != '-') || n > 512)
			abort();
		for (size_t k = 0; k + 2 < n; k++)
			if (p[k] == '\r' || p[k] == '\n' || p[k] == 0)
				abort();
		i += n;
	}
	tj_buf_reset(out);
}

static void fuzz_decoder(const uint8_t *data, size_t size, struct rng *r)
{
	enum tj_smtp_lf_policy lf = (enum tj_smtp_lf_policy)(rnd(r) % 3);
	uint64_t max = rnd(r) % 2 ? 0 : rnd(r) % 512;
	struct tj_smtp_data a, b;
	tj_buf oa = TJ_BUF_INIT, ob = TJ_BUF_INIT;
	size_t ua = 0, ub = 0;
	tj_smtp_data_init(&a, lf, max, 5, true);
	tj_smtp_data_init(&b, lf, max, 5, true);
	int ra = tj_smtp_data_decode(&a, data, size, &ua, &oa);
	int rb = TJ_NEED_MORE;
	while (ub < size && rb == TJ_NEED_MORE) {
		size_t n = 1 + rnd(r) % 16, u = 0;
		if (n > size - ub)
			n = size - ub;
		rb = tj_smtp_data_decode(&b, data + ub, n, &u, &ob);
		ub += u;
	}
	if (ra != rb || ua != ub || oa.len != ob.len || (oa.len && memcmp(oa.data, ob.data, oa.len) != 0) ||
	    a.size != b.size || a.hops != b.hops || a.overflow != b.overflow || a.bare_lf != b.bare_lf)
		abort();
	if (max && oa.len > max)
		abort();
	tj_buf_free(&oa);
	tj_buf_free(&ob);
}

static void answer_event(struct tj_smtp_session *s, const struct tj_smtp_event *ev, struct rng *r)
{
	uint32_t x = rnd(r);
	enum tj_smtp_status st = (x % 4 == 0) ? (enum tj_smtp_status)(x / 4 % TJ_SMTP_STATUS_COUNT) : TJ_SMTP_OK;
	if (ev->type == TJ_SMTP_EV_DATA_END && tj_smtp_is_lmtp(s)) {
		size_t n = tj_smtp_rcpt_count(s);
		/* answer some out of order, then the rest at once */
		for (size_t k = 0; k < n / 2; k++) {
			size_t idx = rnd(r) % n;
			int rc = tj_smtp_answer_rcpt(s, idx, st, (rnd(r) & 1) ? "custom\r\ntext" : NULL);
			if (rc != 0 && rc != TJ_ESTATE)
				abort();
		}
		if (tj_smtp_phase(s) == TJ_SMTP_PH_DATA && tj_smtp_answer(s, TJ_SMTP_OK, NULL) != 0)
			abort();
		if (tj_smtp_phase(s) == TJ_SMTP_PH_DATA)
			abort(); /* every recipient answered: the transaction must be over */
		return;
	}
	int rc = (x & 0x100) ? tj_smtp_answer_code(s, 200 + (int)(x >> 9) % 400, (x & 0x200) ? "4.0.0" : NULL, "x")
			     : tj_smtp_answer(s, st, NULL);
	if (rc == TJ_EINVAL) /* e.g. 3xx for MAIL, 250 for DATA */
		rc = tj_smtp_answer(s, st, NULL);
	if (rc != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	struct rng r = {h};

	fuzz_decoder(data, size, &r);

	struct tj_smtp_config cfg = {
		.proto = (rnd(&r) % 3 == 0) ? TJ_SMTP_PROTO_LMTP : TJ_SMTP_PROTO_SMTP,
		.hostname = "fuzz.example",
		.ext = rnd(&r) % 2 ? 0 : (rnd(&r) & 0x3f),
		.max_size = 1 + rnd(&r) % 4096,
		.max_rcpts = 1 + rnd(&r) % 8,
		.max_hops = 1 + rnd(&r) % 5,
		.max_errors = 1 + rnd(&r) % 30,
		.lf_policy = (enum tj_smtp_lf_policy)(rnd(&r) % 3),
		.tls_active = rnd(&r) % 8 == 0,
	};
	struct tj_smtp_session *s = tj_smtp_session_new(&cfg);
	if (!s)
		abort();
	tj_buf out = TJ_BUF_INIT;
	if (tj_smtp_start(s) != 0)
		abort();
	uint64_t chunk_bytes = 0;
	size_t pos = 0;
	bool closed = false;
	while (pos < size && !closed) {
		size_t n = 1 + rnd(&r) % 64;
		if (n > size - pos)
			n = size - pos;
		int rc = tj_smtp_feed(s, data + pos, n);
		if (rc == TJ_ECLOSED)
			break;
		if (rc != 0)
			abort();
		pos += n;
		struct tj_smtp_event ev;
		for (;;) {
			rc = tj_smtp_next(s, &ev);
			if (tj_smtp_take_output(s, &out) != 0)
				abort();
			check_output(&out);
			if (rc == TJ_NEED_MORE)
				break;
			if (rc == TJ_ECLOSED) {
				closed = true;
				break;
			}
			if (rc == TJ_ESTATE) {
				/* STARTTLS pending: handshake (or give up) */
				if (rnd(&r) % 4 == 0) {
					tj_smtp_shutdown(s, true, NULL);
				} else if (tj_smtp_tls_started(s) != 0) {
					abort();
				}
				continue;
			}
			if (rc != 0)
				abort();
			switch (ev.type) {
			case TJ_SMTP_EV_DATA_CHUNK:
				if (ev.chunk.len == 0)
					abort();
				chunk_bytes += ev.chunk.len;
				break;
			case TJ_SMTP_EV_DATA_END:
				if (chunk_bytes != ev.msg.size || ev.msg.size > cfg.max_size)
					abort();
				chunk_bytes = 0;
				answer_event(s, &ev, &r);
				break;
			case TJ_SMTP_EV_DATA_ABORT:
				chunk_bytes = 0;
				break;
			case TJ_SMTP_EV_HELO: {
				tj_buf hdr = TJ_BUF_INIT;
				struct tj_smtp_received rec = {.helo = ev.cmd->domain, .addr = "192.0.2.1",
							       .by = "fuzz", .with = tj_smtp_with(s), .when = 0};
				if (tj_smtp_received_header(&hdr, &rec) != 0)
					abort();
				tj_buf_free(&hdr);
				break;
			}
			default:
				if (ev.needs_answer)
					answer_event(s, &ev, &r);
				break;
			}
			if (rnd(&r) % 512 == 0)
				tj_smtp_shutdown(s, false, "bye");
		}
	}
	tj_smtp_session_free(&s);
	tj_buf_free(&out);
	return 0;
}
