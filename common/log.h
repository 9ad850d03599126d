/*
 * log.h - one line per event, key=value fields, to stderr and optionally syslog.
 *
 *   tj_log(TJ_LOG_INFO, "store", "event=open dir=%s segments=%u", dir, n);
 *
 * Untrusted text must pass through tj_sanitize() (length-capped, printable).
 */
#ifndef TJ_LOG_H
#define TJ_LOG_H

#include <stddef.h>

enum tj_log_level { TJ_LOG_DEBUG, TJ_LOG_INFO, TJ_LOG_WARN, TJ_LOG_ERROR };

void tj_log_set_level(enum tj_log_level lvl);
/* tj_log_parse_level - "debug|info|warn|error" -> level; -1 if unknown. */
int tj_log_parse_level(const char *s);
void tj_log_set_syslog(int on, const char *ident, int facility);
void tj_log(enum tj_log_level lvl, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* tj_sanitize - copy at most outsz-1 printable bytes of in (others -> '?'),
 * marking truncation with "..."; returns out. */
char *tj_sanitize(char *out, size_t outsz, const void *in, size_t inlen);

#endif
