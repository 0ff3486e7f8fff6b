/* The dates of rule expiry: read and written as YYYY-MM-DD, counted in days
 * since 1970-01-01, and today's date in the operators' calendar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead/log.h"
#include "bulkhead/policy.h"

static int policy_year_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int policy_date_parse(const char *s, long *days)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	struct tm tm;
	int y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && policy_year_leap(y)))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*days = (long)(timegm(&tm) / 86400);
	return 0;
}

void policy_date_format(long days, char buf[32])
{
	time_t t = (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, 32, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday);
}

long policy_date_today(void)
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[32];
	long days = 0;

	/* expiry dates are written in the operators' calendar, not UTC */
	localtime_r(&now, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
		 tm.tm_mday);
	if (policy_date_parse(buf, &days) == -1)
		fatal("cannot tell today's date");
	return days;
}
