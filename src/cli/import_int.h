/*
 * import_int.h - private to `bron import` (import.c, import_source.c,
 * import_scan.c, import_report.c). import_source.c turns input files into
 * jobs (one Bundle to POST each), import.c sends them over HTTP with
 * libcurl, import_report.c counts results, draws progress and prints the
 * summary. A job is owned by whoever holds it in a queue or in flight and is
 * freed with import_job_free once its answer is counted.
 */
#ifndef BRON_CLI_IMPORT_INT_H
#define BRON_CLI_IMPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* Largest input file read whole (Bundle JSON) and largest NDJSON line. */
#define IMPORT_MAX_FILE ((size_t)1 << 30)
#define IMPORT_MAX_LINE ((size_t)64 << 20)
/* A synthetic Bundle is sent once it holds this many bytes, whatever --batch says. */
#define IMPORT_MAX_JOB_BYTES ((size_t)8 << 20)

/* What an entry index of a job points back to in its input. */
typedef enum import_where {
	IMPORT_WHERE_ENTRY, /* entry i of a Bundle file */
	IMPORT_WHERE_LINE   /* where[i]: 1-based line of an NDJSON file */
} import_where;

typedef struct import_job {
	struct import_job *next; /* queue link */
	const char *file;        /* input file name (borrowed from argv) */
	buf body;                /* the Bundle sent */
	size_t entries;          /* entries in body */
	int batch;               /* body is a batch: its entries succeed or fail one by one */
	int synthetic;           /* built by us from resources: a rejected transaction is
	                            retried as a batch so each bad resource fails alone */
	size_t head_len;         /* synthetic: bytes of body before ',"entry":[' */
	import_where where_kind;
	long *where;        /* per entry: line (IMPORT_WHERE_LINE) or NULL */
	uint64_t bytes;     /* input bytes this job accounts for (progress, ETA) */
	int attempts;       /* sends so far */
	int64_t not_before; /* monotonic us: do not resend before */
	void *easy;         /* CURL handle while in flight */
	buf response;       /* the answer's body */
	char errbuf[256];   /* libcurl's message of a transport failure */
} import_job;

import_job *import_job_new(const char *file);
void import_job_free(import_job *j);
/* A synthetic transaction's batch twin: same entries, type "batch". */
import_job *import_job_as_batch(const import_job *j);

/* ---- import_scan.c: spans in JSON text without building a tree ---- */

/* Index of the first non-space byte at or after i. */
size_t import_scan_ws(const char *s, size_t len, size_t i);
/* Index just past the JSON value starting at s[i] (after spaces), or
 * (size_t)-1 if the text ends inside it. */
size_t import_scan_value(const char *s, size_t len, size_t i);
/* The span [*vfrom, *vto) of member `key` of the object spanning s[from..to).
 * 0, or -1 if absent or the text is not an object. */
int import_scan_member(const char *s, size_t from, size_t to, const char *key, size_t *vfrom,
                       size_t *vto);
/* Iterate the array spanning s[from..to): call with *i = from first; each
 * call sets the next element's span and returns 1, then 0 at the end, -1 if
 * the text is not an array. */
int import_scan_element(const char *s, size_t to, size_t *i, size_t *efrom, size_t *eto);
/* Copy the string literal spanning s[from..to) without its quotes into out
 * (cap bytes). 0, or -1 if it is no string, has escapes or does not fit. */
int import_scan_string(const char *s, size_t from, size_t to, char *out, size_t cap);

/* ---- import_report.c: counts, progress and the summary ---- */

typedef struct import_report import_report;

/* total_bytes: input size on disk (for the ETA); files: inputs given. */
import_report *import_report_new(uint64_t total_bytes, size_t files, int tty);
void import_report_free(import_report *r);
void import_report_loaded(import_report *r, size_t resources);
/* Count `resources` rejected (0 for a file that could not be read) and keep
 * the reason (file name first). */
void import_report_reject(import_report *r, size_t resources, const char *fmt, ...)
        BASE_PRINTF(3, 4);
void import_report_bytes(import_report *r, uint64_t bytes);
void import_report_file(import_report *r);
/* Number of rejections (reasons) so far. */
size_t import_report_rejections(const import_report *r);
/* Redraw the progress bar or print a progress line when it is time. */
void import_report_tick(import_report *r, int force);
/* Clear the bar and print the summary on stdout. */
void import_report_summary(import_report *r);

/* ---- import_source.c: input files to jobs ---- */

typedef struct import_source import_source;

/* Open `path` (plain or gzip; NDJSON when the name ends in .ndjson or
 * .ndjson.gz, else a Bundle or a single resource). 0, or -1 with a message
 * in err. The name is borrowed and must outlive the source. */
int import_source_open(const char *path, size_t batch, import_source **out, char *err,
                       size_t errlen);
/* The next job: 1 and *out set, 0 at the end of the input, -1 when the file
 * cannot be read further (reported). Resources that cannot become entries
 * (bad JSON lines) are reported to `rep` and skipped. */
int import_source_next(import_source *s, import_report *rep, import_job **out);
void import_source_close(import_source *s);

#endif
