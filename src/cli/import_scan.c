/*
 * import_scan.c - finds members and array elements in JSON text by their
 * byte spans, without building a tree, so `bron import` can look at a
 * Bundle's type and entries and copy resources byte for byte (the server
 * keeps the client's bytes; a parse and re-dump would change decimals).
 * Interface in import_int.h. Every function is bounded by the length it is
 * given and tolerates malformed text (it then reports "not found"); the
 * server is the one that validates.
 */
#include <string.h>

#include "import_int.h"

#define SCAN_END ((size_t)-1)

size_t import_scan_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Index just past the string starting at s[i] == '"', or SCAN_END. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return SCAN_END;
}

size_t import_scan_value(const char *s, size_t len, size_t i)
{
	i = import_scan_ws(s, len, i);
	if (i >= len)
		return SCAN_END;
	if (s[i] == '"')
		return skip_string(s, len, i);
	if (s[i] == '{' || s[i] == '[') {
		size_t depth = 0;
		while (i < len) {
			char c = s[i];
			if (c == '"') {
				i = skip_string(s, len, i);
				if (i == SCAN_END)
					return SCAN_END;
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				return i + 1;
			i++;
		}
		return SCAN_END;
	}
	size_t start = i;
	while (i < len && !strchr(",}] \t\r\n", s[i]))
		i++;
	return i > start ? i : SCAN_END;
}

int import_scan_member(const char *s, size_t from, size_t to, const char *key, size_t *vfrom,
                       size_t *vto)
{
	size_t klen = strlen(key);
	size_t i = import_scan_ws(s, to, from);
	if (i >= to || s[i] != '{')
		return -1;
	i = import_scan_ws(s, to, i + 1);
	while (i < to && s[i] == '"') {
		size_t kend = skip_string(s, to, i);
		if (kend == SCAN_END)
			return -1;
		size_t colon = import_scan_ws(s, to, kend);
		if (colon >= to || s[colon] != ':')
			return -1;
		size_t v = import_scan_ws(s, to, colon + 1);
		size_t vend = import_scan_value(s, to, v);
		if (vend == SCAN_END)
			return -1;
		if (kend - i - 2 == klen && !memcmp(s + i + 1, key, klen)) {
			*vfrom = v;
			*vto = vend;
			return 0;
		}
		i = import_scan_ws(s, to, vend);
		if (i >= to || s[i] != ',')
			return -1;
		i = import_scan_ws(s, to, i + 1);
	}
	return -1;
}

int import_scan_element(const char *s, size_t to, size_t *i, size_t *efrom, size_t *eto)
{
	size_t p = import_scan_ws(s, to, *i);
	if (p >= to)
		return -1;
	if (s[p] == '[') { /* first call: step inside */
		p = import_scan_ws(s, to, p + 1);
		if (p < to && s[p] == ']')
			return 0;
	} else if (s[p] == ',') {
		p = import_scan_ws(s, to, p + 1);
	} else if (s[p] == ']') {
		return 0;
	} else {
		return -1;
	}
	size_t e = import_scan_value(s, to, p);
	if (e == SCAN_END)
		return -1;
	*efrom = p;
	*eto = e;
	*i = e;
	return 1;
}

int import_scan_string(const char *s, size_t from, size_t to, char *out, size_t cap)
{
	if (to < from + 2 || s[from] != '"' || s[to - 1] != '"')
		return -1;
	size_t n = to - from - 2;
	if (n >= cap || memchr(s + from + 1, '\\', n))
		return -1;
	memcpy(out, s + from + 1, n);
	out[n] = 0;
	return 0;
}
