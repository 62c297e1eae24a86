/*
 * base.h - the small pieces every subsystem of Bron uses: the per-request
 * arena, bounded growable buffers and the diagnostics list that parsers and
 * validators fill and the REST layer turns into one OperationOutcome.
 * Out-of-memory policy: every allocation here that fails calls base_oom(),
 * which logs and aborts the process (see docs/architecture.md); callers never
 * check for NULL from arena_* or buf_reserve's allocation, only for "too big".
 */
#ifndef BRON_BASE_H
#define BRON_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BASE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BASE_PRINTF(f, a)
#endif

/* Log an out-of-memory condition and abort. Never returns. */
void base_oom(void) __attribute__((noreturn));

/* malloc/realloc/calloc that never return NULL (they call base_oom). */
void *base_malloc(size_t n);
void *base_realloc(void *p, size_t n);
void *base_calloc(size_t count, size_t n);
char *base_strdup(const char *s);

/* ---- arena: bump allocator owned by one request or one evaluation ---- */

typedef struct arena arena;

/* A new arena whose first block holds at least `first` bytes (0: default). */
arena *arena_new(size_t first);
/* Free the arena and everything allocated from it. NULL is allowed. */
void arena_free(arena *a);
/* Drop everything allocated but keep the first block for reuse. */
void arena_reset(arena *a);
/* n bytes aligned to 16, uninitialised; valid until arena_free/reset. */
void *arena_alloc(arena *a, size_t n);
/* n zeroed bytes. */
void *arena_calloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_memdup(arena *a, const void *p, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) BASE_PRINTF(2, 3);
char *arena_vprintf(arena *a, const char *fmt, va_list ap);
/* Call fn(p) when the arena is freed or reset (the latest first): for what
 * the arena's owner holds that is not arena memory. */
void arena_defer(arena *a, void (*fn)(void *), void *p);
/* Bytes handed out so far (for limits and tests). */
size_t arena_used(const arena *a);

/* 1 if s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). */
int base_utf8_valid(const char *s, size_t n);
/* The value of hex digit c (0-9, a-f, A-F), or -1 when it is none. */
int base_hexval(int c);

/* ---- buf: growable byte buffer with a hard maximum (curl dynbuf) ---- */

typedef struct buf {
	char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len; /* bytes in use, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* hard limit on len; appends beyond it fail with BUF_TOOBIG */
} buf;

enum { BUF_OK = 0, BUF_TOOBIG = 1 };

/* Initialise an empty buffer that may grow to `max` bytes (0: 1 GiB). */
void buf_init(buf *b, size_t max);
/* Free the memory; the buffer may be initialised again. */
void buf_free(buf *b);
void buf_reset(buf *b);
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) BASE_PRINTF(2, 3);
/* Hand the bytes to the caller (free with free()); the buffer becomes empty. */
char *buf_detach(buf *b, size_t *len);

/* ---- diagnostics: collected by parsers/validators, reported once ---- */

typedef enum diag_severity { DIAG_FATAL, DIAG_ERROR, DIAG_WARNING, DIAG_INFORMATION } diag_severity;

typedef struct diag {
	diag_severity severity;
	const char *code; /* FHIR IssueType code: "invalid", "structure", "value", "required", ...
	                     (static string) */
	const char *message;    /* human readable, arena-owned */
	const char *expression; /* FHIRPath location, e.g. "Patient.name[0].given", or NULL */
} diag;

typedef struct diag_list {
	arena *a;    /* where messages are allocated (borrowed) */
	diag *items; /* arena-owned array */
	size_t count;
	size_t cap;
	size_t errors; /* count of FATAL + ERROR items */
	size_t limit;  /* stop recording after this many items (0: 100) */
} diag_list;

void diag_init(diag_list *d, arena *a);
/* Record a diagnostic; `expression` may be NULL and is copied. */
void diag_add(diag_list *d, diag_severity sev, const char *code, const char *expression,
              const char *fmt, ...) BASE_PRINTF(5, 6);
/* Shorthand for an ERROR. */
void diag_error(diag_list *d, const char *code, const char *expression, const char *fmt, ...)
        BASE_PRINTF(4, 5);

/* ---- small helpers ---- */

/* Parse a whole string as a decimal integer in [min,max]; 0 on success. */
int base_parse_long(const char *s, long min, long max, long *out);
/* Current wall-clock time in microseconds since the epoch. */
int64_t base_now_us(void);
/* Format microseconds since epoch as FHIR instant "2024-01-02T03:04:05.678Z" (out >= 32 bytes). */
void base_format_instant(int64_t us, char *out, size_t outlen);
/* Parse a FHIR instant/dateTime "YYYY-MM-DD[Thh:mm[:ss[.f+]][Z|(+|-)hh:mm]]" to us:
 * a date alone is its midnight UTC, a time without zone is UTC, digits past
 * microseconds are dropped. 0 on success, -1 (us untouched) if invalid. */
int base_parse_instant(const char *s, int64_t *us);
/* Parse an RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to us. 0 on success. */
int base_parse_http_date(const char *s, int64_t *us);
/* Format as RFC 7231 HTTP-date ("Tue, 15 Nov 1994 08:12:31 GMT"), out >= 32 bytes. */
void base_format_http_date(int64_t us, char *out, size_t outlen);

#endif
