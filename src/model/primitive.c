/*
 * primitive.c - hand-written checkers for the value formats of the FHIR R4
 * primitive types (the regexes of the R4 datatypes page, plus calendar
 * validity of dates), used by validate.c and exposed as model_primitive_check()
 * in model.h. Pure functions over borrowed strings: no state, no allocation,
 * no regex library; each returns NULL when the value is fine, otherwise a
 * static description of what is wrong.
 */
#include <string.h>

#include "model_int.h"

/* A FHIR string may be at most 1 MiB (datatypes.html#string). */
#define STRING_MAX (1024 * 1024)

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* \s of the spec's regexes. */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Exactly n digits at s[*pos]; their value in *out. */
static int digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
	int v = 0;

	if (*pos + (size_t)n > len)
		return -1;
	for (int i = 0; i < n; i++) {
		char c = s[*pos + (size_t)i];

		if (!is_digit(c))
			return -1;
		v = v * 10 + (c - '0');
	}
	*pos += (size_t)n;
	*out = v;
	return 0;
}

static int expect(const char *s, size_t len, size_t *pos, char c)
{
	if (*pos >= len || s[*pos] != c)
		return -1;
	(*pos)++;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[month - 1];
}

/* YYYY, YYYY-MM or YYYY-MM-DD; *parts gets 1, 2 or 3. */
static int parse_date(const char *s, size_t len, size_t *pos, int *parts)
{
	int year, month, day;

	if (digits(s, len, pos, 4, &year) || year == 0)
		return -1;
	*parts = 1;
	if (*pos == len || s[*pos] != '-')
		return 0;
	(*pos)++;
	if (digits(s, len, pos, 2, &month) || month < 1 || month > 12)
		return -1;
	*parts = 2;
	if (*pos == len || s[*pos] != '-')
		return 0;
	(*pos)++;
	if (digits(s, len, pos, 2, &day) || day < 1 || day > days_in_month(year, month))
		return -1;
	*parts = 3;
	return 0;
}

/* hh:mm:ss(.f+)? */
static int parse_time(const char *s, size_t len, size_t *pos)
{
	int h, m, sec;

	if (digits(s, len, pos, 2, &h) || h > 23 || expect(s, len, pos, ':') ||
	    digits(s, len, pos, 2, &m) || m > 59 || expect(s, len, pos, ':') ||
	    digits(s, len, pos, 2, &sec) || sec > 60)
		return -1;
	if (*pos < len && s[*pos] == '.') {
		size_t start = ++(*pos);

		while (*pos < len && is_digit(s[*pos]))
			(*pos)++;
		if (*pos == start)
			return -1;
	}
	return 0;
}

/* Z or (+|-)hh:mm with hh:mm up to 14:00. */
static int parse_zone(const char *s, size_t len, size_t *pos)
{
	int h, m;

	if (*pos < len && s[*pos] == 'Z') {
		(*pos)++;
		return 0;
	}
	if (*pos >= len || (s[*pos] != '+' && s[*pos] != '-'))
		return -1;
	(*pos)++;
	if (digits(s, len, pos, 2, &h) || expect(s, len, pos, ':') || digits(s, len, pos, 2, &m) ||
	    m > 59 || h > 14 || (h == 14 && m != 0))
		return -1;
	return 0;
}

static const char *check_date(const char *s, size_t len)
{
	size_t pos = 0;
	int parts;

	if (parse_date(s, len, &pos, &parts) || pos != len)
		return "not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)";
	return NULL;
}

static const char *check_datetime(const char *s, size_t len, int instant)
{
	size_t pos = 0;
	int parts;

	if (parse_date(s, len, &pos, &parts))
		goto bad;
	if (pos == len && !instant)
		return NULL;
	if (parts != 3 || expect(s, len, &pos, 'T') || parse_time(s, len, &pos) ||
	    parse_zone(s, len, &pos) || pos != len)
		goto bad;
	return NULL;
bad:
	return instant ? "not a valid instant (YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm))"
	               : "not a valid dateTime (YYYY, YYYY-MM, YYYY-MM-DD or "
	                 "YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm))";
}

static const char *check_time(const char *s, size_t len)
{
	size_t pos = 0;

	if (parse_time(s, len, &pos) || pos != len)
		return "not a valid time (hh:mm:ss(.sss))";
	return NULL;
}

static const char *check_id(const char *s, size_t len)
{
	if (len > 64)
		return "an id has at most 64 characters";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' ||
		      c == '.'))
			return "an id may only contain A-Z, a-z, 0-9, '-' and '.'";
	}
	return NULL;
}

static const char *check_code(const char *s, size_t len)
{
	if (is_space(s[0]) || is_space(s[len - 1]))
		return "a code may not start or end with whitespace";
	for (size_t i = 1; i < len; i++)
		if (is_space(s[i]) && is_space(s[i - 1]))
			return "a code may not contain consecutive whitespace";
	return NULL;
}

static const char *check_uri(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (is_space(s[i]))
			return "a uri may not contain whitespace";
	return NULL;
}

static const char *check_oid(const char *s, size_t len)
{
	size_t pos = 8;
	int arcs = 0;

	if (len < 8 || memcmp(s, "urn:oid:", 8) != 0 || pos >= len || s[pos] < '0' || s[pos] > '2')
		goto bad;
	pos++;
	while (pos < len) {
		size_t start;

		if (s[pos] != '.')
			goto bad;
		start = ++pos;
		while (pos < len && is_digit(s[pos]))
			pos++;
		if (pos == start || (s[start] == '0' && pos - start > 1))
			goto bad;
		arcs++;
	}
	if (arcs > 0)
		return NULL;
bad:
	return "not a valid oid (urn:oid:1.2.3...)";
}

static int is_lower_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f');
}

static const char *check_uuid(const char *s, size_t len)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	if (len != 9 + sizeof shape - 1 || memcmp(s, "urn:uuid:", 9) != 0)
		goto bad;
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		char c = s[9 + i];

		if (shape[i] == '-' ? c != '-' : !is_lower_hex(c))
			goto bad;
	}
	return NULL;
bad:
	return "not a valid uuid (urn:uuid: and 36 lower-case hex digits and dashes)";
}

/* (\s*([0-9a-zA-Z\+/=]){4}\s*)+ : whitespace only between groups of four. */
static const char *check_base64(const char *s, size_t len)
{
	size_t in_group = 0, groups = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (is_space(c)) {
			if (in_group != 0)
				goto bad;
			continue;
		}
		if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '+' ||
		      c == '/' || c == '='))
			goto bad;
		if (++in_group == 4) {
			in_group = 0;
			groups++;
		}
	}
	if (in_group == 0 && groups > 0)
		return NULL;
bad:
	return "not valid base64";
}

/* [ \r\n\t\S]+, and "Strings SHALL NOT contain Unicode character points
 * below 32, except for u0009, u000D and u000A" (datatypes.html#string). */
static const char *check_string(const char *s, size_t len)
{
	if (len > STRING_MAX)
		return "a string may be at most 1 MiB";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 32 && ch != '\t' && ch != '\r' && ch != '\n')
			return "a string may not contain control characters other than tab, CR and "
			       "LF";
	}
	return NULL;
}

static const char *check_xhtml(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && is_space(s[i]))
		i++;
	if (len - i < 5 || memcmp(s + i, "<div", 4) != 0 ||
	    !(s[i + 4] == ' ' || s[i + 4] == '>' || is_space(s[i + 4])))
		return "narrative must be an XHTML <div> element";
	return NULL;
}

const char *model__check_string(int type_idx, const char *s, size_t len)
{
	if (len == 0)
		return "empty strings are not allowed";
	switch (type_idx) {
	case MODEL__T_DATE: return check_date(s, len);
	case MODEL__T_DATETIME: return check_datetime(s, len, 0);
	case MODEL__T_INSTANT: return check_datetime(s, len, 1);
	case MODEL__T_TIME: return check_time(s, len);
	case MODEL__T_ID: return check_id(s, len);
	case MODEL__T_CODE: return check_code(s, len);
	case MODEL__T_URI:
	case MODEL__T_URL:
	case MODEL__T_CANONICAL: return check_uri(s, len);
	case MODEL__T_OID: return check_oid(s, len);
	case MODEL__T_UUID: return check_uuid(s, len);
	case MODEL__T_BASE64BINARY: return check_base64(s, len);
	case MODEL__T_XHTML: return check_xhtml(s, len);
	default: return check_string(s, len);
	}
}

const char *model__check_integer(int type_idx, json_int_t v)
{
	if (v > 2147483647 || v < -2147483647 - 1)
		return "an integer must fit in 32 bits";
	if (type_idx == MODEL__T_POSITIVEINT && v < 1)
		return "a positiveInt must be 1 or more";
	if (type_idx == MODEL__T_UNSIGNEDINT && v < 0)
		return "an unsignedInt must be 0 or more";
	return NULL;
}

const char *model_primitive_check(const model_type *t, const json_t *value)
{
	int idx;

	if (t == NULL || t->kind != MODEL_KIND_PRIMITIVE)
		return "not a primitive type";
	idx = (int)(t - model__types);
	switch (t->json) {
	case MODEL_JSON_BOOLEAN: return json_is_boolean(value) ? NULL : "expected a JSON boolean";
	case MODEL_JSON_INTEGER:
		if (!json_is_integer(value))
			return "expected a JSON integer";
		return model__check_integer(idx, json_integer_value(value));
	case MODEL_JSON_NUMBER: return json_is_number(value) ? NULL : "expected a JSON number";
	default:
		if (!json_is_string(value))
			return "expected a JSON string";
		return model__check_string(idx, json_string_value(value),
		                           json_string_length(value));
	}
}
