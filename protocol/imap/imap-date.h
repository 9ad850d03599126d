/*
 * imap-date.h - IMAP date ("1-Feb-1994") and date-time
 * ("17-Jul-1996 02:44:25 -0700") parsing and formatting.
 */
#ifndef TJ_IMAP_DATE_H
#define TJ_IMAP_DATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct imap_date {
	int year;  /* 4 digits as sent */
	int month; /* 1..12 */
	int day;   /* 1..31, checked against the month */
};

/* imap_date_parse - date-text: day "-" month "-" year (1 or 2 digit day,
 * month name in any case).  Surrounding quotes are the argument parser's
 * business.  0 or TJ_EINVAL. */
int imap_date_parse(const char *s, size_t len, struct imap_date *d_r);

/* imap_datetime_parse - date-time without its quotes:
 * "dd-Mon-yyyy hh:mm:ss +hhmm" (day may be " 7", "07" or "7").
 * *t_r is the UTC instant (seconds since 1970), *tz_min_r the zone offset
 * in minutes east of UTC.  0 or TJ_EINVAL. */
int imap_datetime_parse(const char *s, size_t len, int64_t *t_r, int *tz_min_r);

/* imap_date_days - days since 1970-01-01 of a (valid) date. */
int64_t imap_date_days(const struct imap_date *d);
/* imap_days_to_date - the inverse. */
void imap_days_to_date(int64_t days, struct imap_date *d_r);

/* imap_write_datetime - append the quoted date-time of UTC instant t shown
 * in zone tz_min (minutes east, -1439..1439), e.g. "\"07-Jul-1996 02:44:25
 * -0700\"".  0, TJ_EINVAL (zone or year out of range) or a tj_buf error. */
int imap_write_datetime(tj_buf *b, int64_t t, int tz_min);
/* imap_write_date - append date-text "7-Jul-1996" (no quotes). */
int imap_write_date(tj_buf *b, const struct imap_date *d);

#endif
