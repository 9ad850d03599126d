/*
 * mime-dump.c - print what an IMAP server would send for each .eml file:
 *   FILE <path>
 *   RFC822.SIZE <n>
 *   ENVELOPE (...)
 *   BODYSTRUCTURE (...)
 *   BODY[1] <length> <sha256 hex>
 * With --crlf the file is first converted to CRLF (as APPEND would store it).
 * CR and LF inside the IMAP strings (literals) are printed as \r and \n so
 * each item stays on one line; dovecot-compare.py escapes Dovecot's the same.
 */
#include "protocol/mime/mime.h"
#include "common/err.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_file(const char *path, tj_buf *out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t tmp[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0 && rc == 0)
		rc = tj_buf_append(out, tmp, n);
	if (ferror(f))
		rc = -1;
	fclose(f);
	return rc;
}

static void put_escaped(const char *label, tj_slice s)
{
	fputs(label, stdout);
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '\r')
			fputs("\\r", stdout);
		else if (s.ptr[i] == '\n')
			fputs("\\n", stdout);
		else
			putchar(s.ptr[i]);
	}
	fputs(")\n", stdout);
}

int main(int argc, char **argv)
{
	int crlf = 0, status = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--crlf") == 0) {
			crlf = 1;
			continue;
		}
		tj_buf file = TJ_BUF_INIT, msgb = TJ_BUF_INIT, sec = TJ_BUF_INIT;
		struct tj_mime_msg *m = NULL;
		if (read_file(argv[i], &file) < 0) {
			fprintf(stderr, "mime-dump: cannot read %s\n", argv[i]);
			status = 1;
			tj_buf_free(&file);
			continue;
		}
		if (crlf) {
			if (tj_mime_crlf(file.data, file.len, 0, &msgb) < 0) {
				status = 1;
				goto next;
			}
		} else {
			msgb = file;
			file = (tj_buf)TJ_BUF_INIT;
		}
		int rc = tj_mime_parse(msgb.data, msgb.len, &m);
		if (rc < 0) {
			fprintf(stderr, "mime-dump: %s: %s\n", argv[i], tj_strerror(rc));
			status = 1;
			goto next;
		}
		printf("FILE %s\n", argv[i]);
		printf("RFC822.SIZE %llu\n", (unsigned long long)tj_mime_size(m));
		put_escaped("ENVELOPE (", tj_mime_envelope(m));
		put_escaped("BODYSTRUCTURE (", tj_mime_bodystructure(m));
		rc = tj_mime_section_fetch(m, msgb.data, msgb.len, "1", &sec);
		if (rc == TJ_ENOTFOUND) {
			rc = 0; /* Dovecot sends "" for a missing part */
		}
		if (rc < 0) {
			fprintf(stderr, "mime-dump: %s: BODY[1]: %s\n", argv[i], tj_strerror(rc));
			status = 1;
			goto next;
		}
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		EVP_Digest(sec.data ? sec.data : (uint8_t *)"", sec.len, md, &mdlen, EVP_sha256(), NULL);
		printf("BODY[1] %zu ", sec.len);
		for (unsigned int k = 0; k < mdlen; k++)
			printf("%02x", md[k]);
		printf("\n");
	next:
		tj_mime_free(&m);
		tj_buf_free(&file);
		tj_buf_free(&msgb);
		tj_buf_free(&sec);
	}
	return status;
}
