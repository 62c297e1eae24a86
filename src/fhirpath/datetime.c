/*
 * datetime.c - FHIRPath Date, DateTime and Time values: parsing the FHIR and
 * literal forms with their precision, formatting, comparison with precision
 * and time zones (an uncertain comparison is "incomparable"), and calendar
 * arithmetic. Used by value.c, ops.c and the functions; no state.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fp_int.h"

static int num(const char *s, size_t len, size_t at, int n, int *out)
{
	if (at + (size_t)n > len)
		return -1;
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[at + (size_t)i]))
			return -1;
		v = v * 10 + (s[at + (size_t)i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* hh(:mm(:ss(.fff)?)?)? from s; sets prec 4..7. Returns bytes used or -1. */
static int parse_clock(const char *s, size_t len, fp_dt *dt)
{
	int v;
	size_t p = 0;
	if (num(s, len, 0, 2, &v) || v > 23)
		return -1;
	dt->hour = (uint8_t)v;
	dt->prec = DT_HOUR;
	p = 2;
	if (p < len && s[p] == ':') {
		if (num(s, len, p + 1, 2, &v) || v > 59)
			return -1;
		dt->minute = (uint8_t)v;
		dt->prec = DT_MINUTE;
		p += 3;
		if (p < len && s[p] == ':') {
			if (num(s, len, p + 1, 2, &v) || v > 59)
				return -1;
			dt->second = (uint8_t)v;
			dt->prec = DT_SECOND;
			p += 3;
			if (p < len && s[p] == '.') {
				p++;
				int ms = 0, digs = 0;
				while (p < len && isdigit((unsigned char)s[p])) {
					if (digs < 3)
						ms = ms * 10 + (s[p] - '0');
					digs++;
					p++;
				}
				if (!digs)
					return -1;
				for (; digs < 3; digs++)
					ms *= 10;
				dt->ms = (uint16_t)ms;
				dt->prec = DT_MS;
			}
		}
	}
	return (int)p;
}

int fp__parse_time(const char *s, size_t len, fp_dt *dt)
{
	memset(dt, 0, sizeof *dt);
	int n = parse_clock(s, len, dt);
	return (n < 0 || (size_t)n != len) ? -1 : 0;
}

int fp__parse_date(const char *s, size_t len, fp_dt *dt, int *kind)
{
	int v;
	memset(dt, 0, sizeof *dt);
	dt->month = dt->day = 1;
	*kind = FP_DATE;
	if (num(s, len, 0, 4, &v))
		return -1;
	dt->year = v;
	dt->prec = DT_YEAR;
	size_t p = 4;
	if (p < len && s[p] == '-') {
		if (num(s, len, p + 1, 2, &v) || v < 1 || v > 12)
			return -1;
		dt->month = (uint8_t)v;
		dt->prec = DT_MONTH;
		p += 3;
		if (p < len && s[p] == '-') {
			if (num(s, len, p + 1, 2, &v) || v < 1 ||
			    v > days_in_month(dt->year, dt->month))
				return -1;
			dt->day = (uint8_t)v;
			dt->prec = DT_DAY;
			p += 3;
		}
	}
	if (p < len && s[p] == 'T') {
		*kind = FP_DATETIME;
		p++;
		if (p == len)
			return 0; /* "2015T" */
		if (dt->prec != DT_DAY)
			return -1;
		int n = parse_clock(s + p, len - p, dt);
		if (n < 0)
			return -1;
		p += (size_t)n;
		if (p < len && s[p] == 'Z') {
			dt->has_tz = 1;
			p++;
		} else if (p < len && (s[p] == '+' || s[p] == '-')) {
			int h, m;
			if (num(s, len, p + 1, 2, &h) || p + 3 >= len || s[p + 3] != ':' ||
			    num(s, len, p + 4, 2, &m) || h > 14 || m > 59)
				return -1;
			dt->has_tz = 1;
			dt->tz = (int16_t)((s[p] == '-' ? -1 : 1) * (h * 60 + m));
			p += 6;
		}
	}
	return p == len ? 0 : -1;
}

int fp__format_dt(const fp_dt *dt, int kind, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = 0;
	if (kind != FP_TIME) {
		n += (size_t)snprintf(out + n, outlen - n, "%04d", (int)dt->year);
		if (dt->prec >= DT_MONTH)
			n += (size_t)snprintf(out + n, outlen - n, "-%02d", dt->month);
		if (dt->prec >= DT_DAY)
			n += (size_t)snprintf(out + n, outlen - n, "-%02d", dt->day);
		if (kind == FP_DATE || dt->prec < DT_HOUR) {
			if (kind == FP_DATETIME && dt->prec < DT_DAY)
				n += (size_t)snprintf(out + n, outlen - n, "T");
			return (int)n;
		}
		n += (size_t)snprintf(out + n, outlen - n, "T");
	}
	n += (size_t)snprintf(out + n, outlen - n, "%02d", dt->hour);
	if (dt->prec >= DT_MINUTE)
		n += (size_t)snprintf(out + n, outlen - n, ":%02d", dt->minute);
	if (dt->prec >= DT_SECOND)
		n += (size_t)snprintf(out + n, outlen - n, ":%02d", dt->second);
	if (dt->prec >= DT_MS)
		n += (size_t)snprintf(out + n, outlen - n, ".%03d", dt->ms);
	if (kind == FP_DATETIME && dt->has_tz) {
		if (dt->tz == 0)
			n += (size_t)snprintf(out + n, outlen - n, "Z");
		else
			n += (size_t)snprintf(out + n, outlen - n, "%c%02d:%02d",
			                      dt->tz < 0 ? '-' : '+', abs(dt->tz) / 60,
			                      abs(dt->tz) % 60);
	}
	return (int)n;
}

/* Days since 1970-01-01 (proleptic Gregorian), after H. Hinnant. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int32_t *y, uint8_t *m, uint8_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (uint8_t)(doy - (153 * mp + 2) / 5 + 1);
	*m = (uint8_t)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int32_t)(yy + (*m <= 2));
}

static int64_t to_ms(const fp_dt *dt)
{
	int64_t days = days_from_civil(dt->year, dt->month, dt->day);
	return (((days * 24 + dt->hour) * 60 + dt->minute) * 60 + dt->second) * 1000 + dt->ms;
}

static void from_ms(int64_t ms, fp_dt *dt)
{
	int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	int64_t rest = ms - days * 86400000;
	civil_from_days(days, &dt->year, &dt->month, &dt->day);
	dt->hour = (uint8_t)(rest / 3600000);
	dt->minute = (uint8_t)(rest / 60000 % 60);
	dt->second = (uint8_t)(rest / 1000 % 60);
	dt->ms = (uint16_t)(rest % 1000);
}

/* Shift to UTC when a zone is known and the value has a time. */
static void normalise(fp_dt *dt, int kind)
{
	if (kind != FP_TIME && dt->has_tz && dt->prec >= DT_HOUR && dt->tz) {
		int64_t ms = to_ms(dt) - (int64_t)dt->tz * 60000;
		from_ms(ms, dt);
		dt->tz = 0;
	}
}

int fp__dt_compare(const fp_dt *pa, const fp_dt *pb, int kind, int *cmp)
{
	fp_dt a = *pa, b = *pb;
	if (kind != FP_TIME && a.prec >= DT_HOUR && b.prec >= DT_HOUR && a.has_tz != b.has_tz)
		return 1; /* one has a zone, the other not: cannot tell */
	normalise(&a, kind);
	normalise(&b, kind);
	int va[7] = {a.year, a.month, a.day, a.hour, a.minute, a.second, a.ms};
	int vb[7] = {b.year, b.month, b.day, b.hour, b.minute, b.second, b.ms};
	int start = kind == FP_TIME ? DT_HOUR : DT_YEAR;
	/* seconds and milliseconds count as one precision */
	int pa_ = a.prec == DT_MS ? DT_SECOND : a.prec, pb_ = b.prec == DT_MS ? DT_SECOND : b.prec;
	int p = pa_ < pb_ ? pa_ : pb_;
	for (int i = start; i <= p; i++) {
		int x = va[i - 1], y = vb[i - 1];
		if (i == DT_SECOND) {
			x = x * 1000 + va[6];
			y = y * 1000 + vb[6];
		}
		if (x != y) {
			*cmp = x < y ? -1 : 1;
			return 0;
		}
	}
	if (pa_ != pb_)
		return 1;
	*cmp = 0;
	return 0;
}

/* unit: calendar word ("year", ...) or UCUM code. Returns -1 for units that
 * cannot be added to a date ('a', 'mo': their length is not calendar). */
int fp__dt_add(const fp_dt *in, int kind, double amount, const char *unit, int sign, fp_dt *out)
{
	*out = *in;
	static const struct {
		const char *u;
		int64_t ms;
		int part;
	} units[] = {
	        {"year", 0, DT_YEAR},         {"month", 0, DT_MONTH},
	        {"week", 604800000, DT_DAY},  {"wk", 604800000, DT_DAY},
	        {"day", 86400000, DT_DAY},    {"d", 86400000, DT_DAY},
	        {"hour", 3600000, DT_HOUR},   {"h", 3600000, DT_HOUR},
	        {"minute", 60000, DT_MINUTE}, {"min", 60000, DT_MINUTE},
	        {"second", 1000, DT_SECOND},  {"s", 1000, DT_SECOND},
	        {"millisecond", 1, DT_MS},    {"ms", 1, DT_MS},
	};
	int i = -1;
	/* beyond ±10,000 years there is no date to give */
	if (!(fabs(amount) < 1e13))
		return -1;
	for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
		if (!strcmp(units[k].u, unit))
			i = (int)k;
	if (i < 0)
		return -1;
	if (kind == FP_TIME && units[i].part < DT_HOUR)
		return -1;
	if (kind == FP_DATE && units[i].part > DT_DAY)
		return -1;
	if (units[i].ms == 0) {
		if (fabs(amount) > 200000)
			return -1;
		int64_t n = (int64_t)trunc(amount) * sign;
		int64_t months = (int64_t)out->year * 12 + (out->month - 1);
		months += units[i].part == DT_YEAR ? n * 12 : n;
		out->year = (int32_t)(months >= 0 ? months / 12 : (months - 11) / 12);
		out->month = (uint8_t)(months - (int64_t)out->year * 12 + 1);
		int dim = days_in_month(out->year, out->month);
		if (out->day > dim)
			out->day = (uint8_t)dim;
		return 0;
	}
	if (units[i].part != DT_MS)
		amount = trunc(amount); /* whole calendar units only */
	double delta = amount * (double)units[i].ms * sign;
	if (units[i].part < DT_MS && out->prec < units[i].part) {
		/* adding finer units than the value has: whole coarser units only */
		static const int64_t part_ms[] = {0, 0, 0, 86400000, 3600000, 60000, 1000, 1};
		int64_t q = part_ms[out->prec < DT_DAY ? DT_DAY : out->prec];
		if (q)
			delta = trunc(delta / (double)q) * (double)q;
	}
	if (!(fabs(delta) < 4e14)) /* about 12,000 years */
		return -1;
	int64_t ms = to_ms(out) + (int64_t)llround(delta);
	if (kind == FP_TIME) {
		ms %= 86400000;
		if (ms < 0)
			ms += 86400000;
	}
	int32_t y = out->year;
	from_ms(ms, out);
	if (kind == FP_TIME)
		out->year = y;
	return 0;
}

void fp__now(fp_dt *dt, int kind)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(dt, 0, sizeof *dt);
	from_ms((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, dt);
	dt->has_tz = kind == FP_DATETIME;
	dt->prec = kind == FP_DATE ? DT_DAY : DT_MS;
}
