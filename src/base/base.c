/*
 * base.c - arena, bounded buffers, diagnostics and time helpers (base.h).
 * The arena is a list of blocks; allocations bump a pointer and are freed all
 * at once. Nothing here keeps global state except what base_oom() prints.
 */
#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void base_oom(void)
{
	static const char msg[] = "bron: out of memory, aborting\n";
	fwrite(msg, 1, sizeof msg - 1, stderr);
	abort();
}

void *base_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		base_oom();
	return p;
}

void *base_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		base_oom();
	return q;
}

void *base_calloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p)
		base_oom();
	return p;
}

char *base_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = base_malloc(n);
	memcpy(p, s, n);
	return p;
}

/* ---- arena ---- */

typedef struct arena_block {
	struct arena_block *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	max_align_t data[]; /* aligned start of the bytes */
} arena_block;

typedef struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *p;
} arena_cleanup;

struct arena {
	arena_block *head;  /* block being filled */
	arena_block *first; /* kept on reset */
	size_t total;       /* bytes handed out */
	arena_cleanup *cleanups;
};

#define ARENA_DEFAULT 8192
#define ARENA_ALIGN   16

static arena_block *block_new(size_t size)
{
	arena_block *b = base_malloc(sizeof *b + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

arena *arena_new(size_t first)
{
	arena *a = base_malloc(sizeof *a);
	a->first = a->head = block_new(first ? first : ARENA_DEFAULT);
	a->total = 0;
	a->cleanups = NULL;
	return a;
}

void arena_defer(arena *a, void (*fn)(void *), void *p)
{
	arena_cleanup *c = arena_alloc(a, sizeof *c);
	c->fn = fn;
	c->p = p;
	c->next = a->cleanups;
	a->cleanups = c;
}

static void run_cleanups(arena *a)
{
	while (a->cleanups) {
		arena_cleanup *c = a->cleanups;
		a->cleanups = c->next;
		c->fn(c->p);
	}
}

static void free_chain(arena_block *b, arena_block *stop)
{
	while (b && b != stop) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
}

void arena_free(arena *a)
{
	if (!a)
		return;
	run_cleanups(a);
	free_chain(a->head, NULL);
	free(a);
}

void arena_reset(arena *a)
{
	run_cleanups(a);
	/* blocks are pushed at the head, so the first block is the tail */
	free_chain(a->head, a->first);
	a->head = a->first;
	a->first->next = NULL;
	a->first->used = 0;
	a->total = 0;
}

void *arena_alloc(arena *a, size_t n)
{
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need < n)
		base_oom();
	arena_block *b = a->head;
	if (b->size - b->used < need) {
		size_t size = b->size * 2;
		if (size < need)
			size = need;
		if (size > (1u << 20) && need < (1u << 20))
			size = 1u << 20;
		arena_block *nb = block_new(size);
		nb->next = b;
		a->head = b = nb;
	}
	void *p = (char *)b->data + b->used;
	b->used += need;
	a->total += need;
	return p;
}

void *arena_calloc(arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	memset(p, 0, n);
	return p;
}

char *arena_memdup(arena *a, const void *p, size_t n)
{
	char *q = arena_alloc(a, n + 1);
	if (n)
		memcpy(q, p, n);
	q[n] = 0;
	return q;
}

char *arena_strdup(arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	return arena_memdup(a, s, len);
}

char *arena_vprintf(arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	char *p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

size_t arena_used(const arena *a)
{
	return a->total;
}

/* ---- buf ---- */

void buf_init(buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max ? max : (size_t)1 << 30;
}

void buf_free(buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

static int buf_grow(buf *b, size_t n)
{
	if (n > b->max - b->len)
		return BUF_TOOBIG;
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return BUF_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = base_realloc(b->data, cap);
	b->cap = cap;
	return BUF_OK;
}

int buf_append(buf *b, const void *p, size_t n)
{
	if (buf_grow(b, n))
		return BUF_TOOBIG;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return BUF_OK;
}

int buf_puts(buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(buf *b, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_grow(b, (size_t)n)) {
		va_end(ap);
		return BUF_TOOBIG;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return BUF_OK;
}

char *buf_detach(buf *b, size_t *len)
{
	char *p = b->data;
	if (!p)
		p = base_calloc(1, 1);
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* ---- diagnostics ---- */

void diag_init(diag_list *d, arena *a)
{
	memset(d, 0, sizeof *d);
	d->a = a;
}

static void diag_vadd(diag_list *d, diag_severity sev, const char *code, const char *expression,
                      const char *fmt, va_list ap)
{
	if (sev <= DIAG_ERROR)
		d->errors++;
	size_t limit = d->limit ? d->limit : 100;
	if (d->count >= limit)
		return;
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		diag *items = arena_alloc(d->a, cap * sizeof *items);
		if (d->count)
			memcpy(items, d->items, d->count * sizeof *items);
		d->items = items;
		d->cap = cap;
	}
	diag *it = &d->items[d->count++];
	it->severity = sev;
	it->code = code;
	it->message = arena_vprintf(d->a, fmt, ap);
	it->expression = expression ? arena_strdup(d->a, expression) : NULL;
}

void diag_add(diag_list *d, diag_severity sev, const char *code, const char *expression,
              const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, sev, code, expression, fmt, ap);
	va_end(ap);
}

void diag_error(diag_list *d, const char *code, const char *expression, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vadd(d, DIAG_ERROR, code, expression, fmt, ap);
	va_end(ap);
}

/* ---- numbers and time ---- */

int base_parse_long(const char *s, long min, long max, long *out)
{
	/* strtol would skip leading whitespace; the whole string must be the number */
	if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int64_t base_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whole seconds, rounded down, and the microseconds past them (0..999999):
 * C division truncates toward zero, which is wrong before 1970. */
static time_t split_us(int64_t us, int64_t *frac)
{
	int64_t sec = us / 1000000, rem = us % 1000000;
	if (rem < 0) {
		rem += 1000000;
		sec--;
	}
	*frac = rem;
	return (time_t)sec;
}

void base_format_instant(int64_t us, char *out, size_t outlen)
{
	int64_t frac;
	time_t sec = split_us(us, &frac);
	struct tm tm;
	gmtime_r(&sec, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(frac / 1000));
}

void base_format_http_date(int64_t us, char *out, size_t outlen)
{
	int64_t frac;
	time_t sec = split_us(us, &frac);
	struct tm tm;
	gmtime_r(&sec, &tm);
	strftime(out, outlen, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int base_parse_instant(const char *s, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	size_t n = strlen(s);
	if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return -1;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return -1;
	const char *p = s + 10;
	int64_t frac = 0;
	int64_t offset = 0;
	if (*p == 'T') {
		if (strlen(p) < 6 || digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi))
			return -1;
		p += 6;
		if (*p == ':') {
			if (digits(p + 1, 2, &se))
				return -1;
			p += 3;
			if (*p == '.') {
				p++;
				int64_t scale = 100000;
				if (*p < '0' || *p > '9')
					return -1;
				while (*p >= '0' && *p <= '9') {
					frac += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
		if (h > 23 || mi > 59 || se > 60)
			return -1;
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (strlen(p) < 6 || digits(p + 1, 2, &oh) || p[3] != ':' ||
			    digits(p + 4, 2, &om) || oh > 14 || om > 59)
				return -1;
			offset = (int64_t)(oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
			p += 6;
		} else if (*p) {
			return -1;
		}
	}
	if (*p)
		return -1;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
	*us = secs * 1000000 + frac;
	return 0;
}

int base_parse_http_date(const char *s, int64_t *us)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	*us = (days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400 +
	       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) *
	      (int64_t)1000000;
	return 0;
}

int base_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int base_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t len;
		unsigned min, cp;
		if ((c & 0xe0) == 0xc0)
			len = 2, min = 0x80, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, min = 0x800, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, min = 0x10000, cp = c & 0x07;
		else
			return 0;
		if ((size_t)(end - p) < len)
			return 0;
		for (size_t i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += len;
	}
	return 1;
}
