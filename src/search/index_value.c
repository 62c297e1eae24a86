/*
 * index_value.c - the ranges index rows store for the values search
 * compares by precision (search_int.h): the microseconds a FHIR date,
 * dateTime or instant covers at the precision it is written with, and the
 * implicit range of a decimal. Pure functions, no state.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_int.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* n decimal digits at s into *v; 0 on success. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int search__index_date(const char *s, int64_t *lo, int64_t *hi)
{
	int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
	int64_t frac = 0, span;
	const char *p = s;

	if (s == NULL || digits(p, 4, &y) || y < 1)
		return -1;
	p += 4;
	if (*p == '\0') {
		*lo = days_from_civil(y, 1, 1) * US_PER_DAY;
		*hi = days_from_civil(y + 1, 1, 1) * US_PER_DAY - 1;
		return 0;
	}
	if (*p != '-' || digits(p + 1, 2, &mo) || mo < 1 || mo > 12)
		return -1;
	p += 3;
	if (*p == '\0') {
		*lo = days_from_civil(y, mo, 1) * US_PER_DAY;
		*hi = *lo + days_in_month(y, mo) * US_PER_DAY - 1;
		return 0;
	}
	if (*p != '-' || digits(p + 1, 2, &d) || d < 1 || d > days_in_month(y, mo))
		return -1;
	p += 3;
	int64_t day = days_from_civil(y, mo, d) * US_PER_DAY;
	if (*p == '\0') {
		*lo = day;
		*hi = day + US_PER_DAY - 1;
		return 0;
	}
	if (*p != 'T' || digits(p + 1, 2, &h) || h > 23 || p[3] != ':' || digits(p + 4, 2, &mi) ||
	    mi > 59)
		return -1;
	p += 6;
	span = 60 * US_PER_SEC;
	if (*p == ':') {
		if (digits(p + 1, 2, &sec) || sec > 60)
			return -1;
		p += 3;
		span = US_PER_SEC;
		if (*p == '.') {
			int64_t unit = US_PER_SEC;
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			for (; *p >= '0' && *p <= '9'; p++) {
				if (unit > 1) { /* digits past microseconds are dropped */
					unit /= 10;
					frac += (*p - '0') * unit;
				}
			}
			span = unit;
		}
	}
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || oh > 14 || p[3] != ':' || digits(p + 4, 2, &om) ||
		    om > 59)
			return -1;
		off = (int64_t)(oh * 60 + om) * 60 * US_PER_SEC * (*p == '-' ? -1 : 1);
		p += 6;
	}
	if (*p != '\0')
		return -1;
	*lo = day + ((int64_t)h * 3600 + mi * 60 + sec) * US_PER_SEC + frac - off;
	*hi = *lo + span - 1;
	return 0;
}

int search__index_number(const char *s, double *value, double *lo, double *hi)
{
	char *end;
	int scale = 0, seen_digit = 0, significant = 0, leading = 1;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	double v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v))
		return -1;
	if (*p == '-' || *p == '+')
		p++;
	while (*p >= '0' && *p <= '9') {
		seen_digit = 1;
		leading = leading && *p == '0';
		significant += !leading;
		p++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			scale++;
			seen_digit = 1;
			leading = leading && *p == '0';
			significant += !leading;
			p++;
		}
	}
	if (!seen_digit)
		return -1;
	if (*p == 'e' || *p == 'E')
		scale -= (int)strtol(p + 1, NULL, 10);
	if (scale > 300 || scale < -300)
		return -1;
	/* 16 or more significant digits are at the limit of a double: the text
	 * read back from the stored value may have fewer digits than the client
	 * wrote, so no precision can be inferred; the value stands for itself */
	double half = significant >= 16 ? 0 : 0.5 * pow(10, -scale);
	*value = v;
	*lo = v - half;
	*hi = v + half;
	return 0;
}

const char *search__index_number_text(const json_t *v, char *out, size_t outlen)
{
	if (json_is_integer(v)) {
		snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return out;
	}
	if (!json_is_real(v))
		return NULL;
	double d = json_real_value(v);
	/* the shortest text that reads back to d: what the client most likely wrote
	 * (%g drops trailing zeros, so 15 digits give the shortest form of any
	 * value that has one of at most 15 digits) */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	/* integral values print as "1e+02" at their shortest: write them out */
	if (strchr(out, 'e') && fabs(d) >= 1 && fabs(d) < 1e17 && d == floor(d))
		snprintf(out, outlen, "%.0f", d);
	return out;
}
