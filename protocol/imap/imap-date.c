/*
 * imap-date.c - IMAP dates and date-times (see imap-date.h).
 *
 * Civil-date arithmetic is done here (days since the epoch from year,
 * month, day and back) so results do not depend on the C library's time
 * zone state.
 */
#include "protocol/imap/imap-date.h"
#include "common/err.h"

#include <stdbool.h>
#include <strings.h>

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int64_t imap_date_days(const struct imap_date *d)
{
	/* shift the year to start in March so the leap day is last */
	int64_t y = d->year - (d->month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (d->month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + d->day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void imap_days_to_date(int64_t days, struct imap_date *d_r)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t day = doy - (153 * mp + 2) / 5 + 1;
	int64_t month = mp < 10 ? mp + 3 : mp - 9;
	d_r->year = (int)(yoe + era * 400 + (month <= 2));
	d_r->month = (int)month;
	d_r->day = (int)day;
}

static int digits(const char *s, size_t n, int *v_r)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TJ_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* parse "d-Mon-yyyy" at s, returning bytes used in *used_r */
static int parse_date_text(const char *s, size_t len, bool space_pad, struct imap_date *d, size_t *used_r)
{
	size_t i = 0;
	int day;
	if (space_pad && len > 0 && s[0] == ' ') {
		i = 1; /* date-day-fixed = SP DIGIT */
		if (len < 2 || digits(s + 1, 1, &day) < 0)
			return TJ_EINVAL;
		i = 2;
	} else {
		size_t n = 0;
		while (n < 2 && n < len && s[n] >= '0' && s[n] <= '9')
			n++;
		if (n == 0 || digits(s, n, &day) < 0)
			return TJ_EINVAL;
		i = n;
	}
	if (len < i + 9 || s[i] != '-' || s[i + 4] != '-')
		return TJ_EINVAL;
	int mon = 0;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(s + i + 1, months[m], 3) == 0)
			mon = m + 1;
	if (!mon)
		return TJ_EINVAL;
	int year;
	if (digits(s + i + 5, 4, &year) < 0 || year < 1)
		return TJ_EINVAL;
	if (day < 1 || day > days_in_month(year, mon))
		return TJ_EINVAL;
	d->year = year;
	d->month = mon;
	d->day = day;
	*used_r = i + 9;
	return 0;
}

int imap_date_parse(const char *s, size_t len, struct imap_date *d_r)
{
	size_t used;
	struct imap_date d;
	if (parse_date_text(s, len, false, &d, &used) < 0 || used != len)
		return TJ_EINVAL;
	*d_r = d;
	return 0;
}

int imap_datetime_parse(const char *s, size_t len, int64_t *t_r, int *tz_min_r)
{
	struct imap_date d;
	size_t i;
	if (parse_date_text(s, len, true, &d, &i) < 0)
		return TJ_EINVAL;
	/* SP hh:mm:ss SP (+|-)hhmm */
	if (len - i != 15 || s[i] != ' ' || s[i + 3] != ':' || s[i + 6] != ':' || s[i + 9] != ' ' ||
	    (s[i + 10] != '+' && s[i + 10] != '-'))
		return TJ_EINVAL;
	int hh, mm, ss, zh, zm;
	if (digits(s + i + 1, 2, &hh) < 0 || digits(s + i + 4, 2, &mm) < 0 ||
	    digits(s + i + 7, 2, &ss) < 0 || digits(s + i + 11, 2, &zh) < 0 ||
	    digits(s + i + 13, 2, &zm) < 0)
		return TJ_EINVAL;
	if (hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return TJ_EINVAL;
	int tz = zh * 60 + zm;
	if (s[i + 10] == '-')
		tz = -tz;
	if (ss == 60)
		ss = 59; /* a leap second is stored as the second before it */
	int64_t local = imap_date_days(&d) * 86400 + hh * 3600 + mm * 60 + ss;
	*t_r = local - (int64_t)tz * 60;
	*tz_min_r = tz;
	return 0;
}

int imap_write_date(tj_buf *b, const struct imap_date *d)
{
	if (d->month < 1 || d->month > 12 || d->year < 0 || d->year > 9999)
		return TJ_EINVAL;
	return tj_buf_printf(b, "%d-%s-%04d", d->day, months[d->month - 1], d->year);
}

int imap_write_datetime(tj_buf *b, int64_t t, int tz_min)
{
	if (tz_min < -1439 || tz_min > 1439)
		return TJ_EINVAL;
	int64_t local = t + (int64_t)tz_min * 60;
	int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int64_t secs = local - days * 86400;
	struct imap_date d;
	imap_days_to_date(days, &d);
	if (d.year < 0 || d.year > 9999)
		return TJ_EINVAL;
	int tz = tz_min < 0 ? -tz_min : tz_min;
	return tj_buf_printf(b, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", d.day,
			     months[d.month - 1], d.year, (int)(secs / 3600), (int)(secs / 60 % 60),
			     (int)(secs % 60), tz_min < 0 ? '-' : '+', tz / 60, tz % 60);
}
