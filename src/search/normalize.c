/*
 * normalize.c - search_normalize(): the form of a string that string search
 * compares (search.h). Lower case, Latin letters with diacritics folded to
 * their base letters (the fold tables below were derived from the Unicode
 * compatibility decompositions, with the letters that have none - ø, ł, đ,
 * æ, ß, ... - mapped by hand), combining marks dropped, ASCII and general
 * punctuation removed, and whitespace runs collapsed to one space with none
 * at either end. Greek and Cyrillic capitals are lower-cased; every other
 * character is kept as written. Pure function of its input; the index and
 * the query side both call it so that stored and searched text agree.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "search.h"

/* Base letters of U+00C0..U+024F and U+1E00..U+1EFF; "" keeps the character. */
static const char fold_latin[400][3] = {
        "a",  "a",  "a",  "a",  "a",  "a",  "ae", "c",
        "e",  "e",  "e",  "e",  "i",  "i",  "i",  "i", /* U+00C0 */
        "d",  "n",  "o",  "o",  "o",  "o",  "o",  "",
        "o",  "u",  "u",  "u",  "u",  "y",  "th", "ss", /* U+00D0 */
        "a",  "a",  "a",  "a",  "a",  "a",  "ae", "c",
        "e",  "e",  "e",  "e",  "i",  "i",  "i",  "i", /* U+00E0 */
        "d",  "n",  "o",  "o",  "o",  "o",  "o",  "",
        "o",  "u",  "u",  "u",  "u",  "y",  "th", "y", /* U+00F0 */
        "a",  "a",  "a",  "a",  "a",  "a",  "c",  "c",
        "c",  "c",  "c",  "c",  "c",  "c",  "d",  "d", /* U+0100 */
        "d",  "d",  "e",  "e",  "e",  "e",  "e",  "e",
        "e",  "e",  "e",  "e",  "g",  "g",  "g",  "g", /* U+0110 */
        "g",  "g",  "g",  "g",  "h",  "h",  "h",  "h",
        "i",  "i",  "i",  "i",  "i",  "i",  "i",  "i", /* U+0120 */
        "i",  "i",  "ij", "ij", "j",  "j",  "k",  "k",
        "k",  "l",  "l",  "l",  "l",  "l",  "l",  "l", /* U+0130 */
        "l",  "l",  "l",  "n",  "n",  "n",  "n",  "n",
        "n",  "n",  "n",  "n",  "o",  "o",  "o",  "o", /* U+0140 */
        "o",  "o",  "oe", "oe", "r",  "r",  "r",  "r",
        "r",  "r",  "s",  "s",  "s",  "s",  "s",  "s", /* U+0150 */
        "s",  "s",  "t",  "t",  "t",  "t",  "t",  "t",
        "u",  "u",  "u",  "u",  "u",  "u",  "u",  "u", /* U+0160 */
        "u",  "u",  "u",  "u",  "w",  "w",  "y",  "y",
        "y",  "z",  "z",  "z",  "z",  "z",  "z",  "s", /* U+0170 */
        "b",  "b",  "",   "",   "",   "",   "o",  "c",
        "c",  "",   "d",  "",   "",   "",   "e",  "e", /* U+0180 */
        "e",  "f",  "f",  "g",  "",   "",   "",   "i",
        "k",  "k",  "l",  "",   "",   "n",  "n",  "o", /* U+0190 */
        "o",  "o",  "",   "",   "p",  "p",  "",   "",
        "",   "",   "",   "t",  "t",  "t",  "t",  "u", /* U+01A0 */
        "u",  "",   "v",  "y",  "y",  "z",  "z",  "",
        "",   "",   "",   "",   "",   "",   "",   "", /* U+01B0 */
        "",   "",   "",   "",   "dz", "dz", "dz", "lj",
        "lj", "lj", "nj", "nj", "nj", "a",  "a",  "i", /* U+01C0 */
        "i",  "o",  "o",  "u",  "u",  "u",  "u",  "u",
        "u",  "u",  "u",  "u",  "u",  "e",  "a",  "a", /* U+01D0 */
        "a",  "a",  "ae", "ae", "",   "",   "g",  "g",
        "k",  "k",  "o",  "o",  "o",  "o",  "",   "", /* U+01E0 */
        "j",  "dz", "dz", "dz", "g",  "g",  "",   "",
        "n",  "n",  "a",  "a",  "ae", "ae", "o",  "o", /* U+01F0 */
        "a",  "a",  "a",  "a",  "e",  "e",  "e",  "e",
        "i",  "i",  "i",  "i",  "o",  "o",  "o",  "o", /* U+0200 */
        "r",  "r",  "r",  "r",  "u",  "u",  "u",  "u",
        "s",  "s",  "t",  "t",  "",   "",   "h",  "h", /* U+0210 */
        "",   "d",  "ou", "ou", "z",  "z",  "a",  "a",
        "e",  "e",  "o",  "o",  "o",  "o",  "o",  "o", /* U+0220 */
        "o",  "o",  "y",  "y",  "l",  "n",  "t",  "j",
        "db", "qp", "a",  "c",  "c",  "l",  "",   "s", /* U+0230 */
        "z",  "",   "",   "b",  "u",  "",   "e",  "e",
        "j",  "j",  "",   "",   "r",  "r",  "y",  "y", /* U+0240 */
};
static const char fold_latin_ext[256][3] = {
        "a", "a", "b", "b", "b", "b", "b",  "b",
        "c", "c", "d", "d", "d", "d", "d",  "d", /* U+1E00 */
        "d", "d", "d", "d", "e", "e", "e",  "e",
        "e", "e", "e", "e", "e", "e", "f",  "f", /* U+1E10 */
        "g", "g", "h", "h", "h", "h", "h",  "h",
        "h", "h", "h", "h", "i", "i", "i",  "i", /* U+1E20 */
        "k", "k", "k", "k", "k", "k", "l",  "l",
        "l", "l", "l", "l", "l", "l", "m",  "m", /* U+1E30 */
        "m", "m", "m", "m", "n", "n", "n",  "n",
        "n", "n", "n", "n", "o", "o", "o",  "o", /* U+1E40 */
        "o", "o", "o", "o", "p", "p", "p",  "p",
        "r", "r", "r", "r", "r", "r", "r",  "r", /* U+1E50 */
        "s", "s", "s", "s", "s", "s", "s",  "s",
        "s", "s", "t", "t", "t", "t", "t",  "t", /* U+1E60 */
        "t", "t", "u", "u", "u", "u", "u",  "u",
        "u", "u", "u", "u", "v", "v", "v",  "v", /* U+1E70 */
        "w", "w", "w", "w", "w", "w", "w",  "w",
        "w", "w", "x", "x", "x", "x", "y",  "y", /* U+1E80 */
        "z", "z", "z", "z", "z", "z", "h",  "t",
        "w", "y", "",  "s", "",  "",  "ss", "", /* U+1E90 */
        "a", "a", "a", "a", "a", "a", "a",  "a",
        "a", "a", "a", "a", "a", "a", "a",  "a", /* U+1EA0 */
        "a", "a", "a", "a", "a", "a", "a",  "a",
        "e", "e", "e", "e", "e", "e", "e",  "e", /* U+1EB0 */
        "e", "e", "e", "e", "e", "e", "e",  "e",
        "i", "i", "i", "i", "o", "o", "o",  "o", /* U+1EC0 */
        "o", "o", "o", "o", "o", "o", "o",  "o",
        "o", "o", "o", "o", "o", "o", "o",  "o", /* U+1ED0 */
        "o", "o", "o", "o", "u", "u", "u",  "u",
        "u", "u", "u", "u", "u", "u", "u",  "u", /* U+1EE0 */
        "u", "u", "y", "y", "y", "y", "y",  "y",
        "y", "y", "",  "",  "",  "",  "",   "", /* U+1EF0 */
};

/* Decode one UTF-8 sequence at s (n bytes available). Returns its length and
 * sets *cp; an invalid byte is taken as itself (length 1, cp 0xFFFD). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	size_t len;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2;
		v = c & 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		v = c & 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		v = c & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (len > n) {
		*cp = 0xFFFD;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

enum { DROP, SPACE, KEEP };

/* What a non-ASCII code point becomes: DROP (marks, punctuation), SPACE, or
 * KEEP with *fold set to its ASCII base letters ("" when none: *cp is
 * lower-cased in place and kept). */
static int classify(uint32_t *cp, const char **fold)
{
	uint32_t c = *cp;

	*fold = "";
	if (c >= 0x0300 && c <= 0x036F) /* combining diacritical marks */
		return DROP;
	if (c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
	    c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000)
		return SPACE;
	if ((c >= 0x00A1 && c <= 0x00BF) || c == 0x00D7 || c == 0x00F7 ||
	    (c >= 0x200B && c <= 0x206F) || c == 0xFEFF || c == 0xFFFD)
		return DROP;
	if (c >= 0x00C0 && c <= 0x024F) {
		*fold = fold_latin[c - 0x00C0];
		return KEEP;
	}
	if (c >= 0x1E00 && c <= 0x1EFF) {
		*fold = fold_latin_ext[c - 0x1E00];
		return KEEP;
	}
	if ((c >= 0x0391 && c <= 0x03A9) || (c >= 0x0410 && c <= 0x042F))
		*cp = c + 0x20; /* Greek, Cyrillic capitals */
	else if (c >= 0x0400 && c <= 0x040F)
		*cp = c + 0x50;
	return KEEP;
}

char *search_normalize(arena *a, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);
	/* Folding never grows a character: 2-byte letters become at most 2 ASCII
	 * bytes, 3-byte ones at most 2, and kept ones keep their length. */
	char *out = arena_alloc(a, n + 1), *o = out;
	int space = 0; /* a space is pending before the next kept character */

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);
		const char *fold = "";
		int what;

		i += len;
		if (cp < 0x80) {
			if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
				what = SPACE;
			else if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
				what = KEEP;
			else if (cp >= 'A' && cp <= 'Z') {
				cp += 'a' - 'A';
				what = KEEP;
			} else
				what = DROP; /* punctuation and controls */
		} else
			what = classify(&cp, &fold);
		if (what == DROP)
			continue;
		if (what == SPACE) {
			space = o != out;
			continue;
		}
		if (space) {
			*o++ = ' ';
			space = 0;
		}
		if (*fold) {
			size_t fl = strlen(fold);
			memcpy(o, fold, fl);
			o += fl;
		} else if (cp < 0x80) {
			*o++ = (char)cp;
		} else {
			o += utf8_encode(cp, o);
		}
	}
	*o = '\0';
	return out;
}
