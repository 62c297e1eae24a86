/*
 * import_report.c - what `bron import` tells its user: counts of loaded and
 * rejected resources, a progress bar redrawn in place on a terminal (or a
 * plain line every few seconds otherwise) on stderr, and the summary on
 * stdout. Interface in import_int.h. Used from the import's one thread only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "import_int.h"

#define KEEP_REASONS   20      /* rejections listed in the summary */
#define REASON_MAX     400     /* bytes kept of each */
#define TTY_EVERY_US   200000  /* redraw the bar at most this often */
#define PLAIN_EVERY_US 5000000 /* a plain progress line this often */

struct import_report {
	uint64_t total_bytes; /* input size on disk, for the ETA */
	uint64_t done_bytes;  /* input bytes whose resources have been answered */
	size_t loaded, rejected, files;
	size_t files_given; /* inputs named on the command line */
	size_t rejections;  /* reasons reported (a Bundle, a line, a file) */
	char *reasons[KEEP_REASONS];
	int tty;
	int drawn;           /* the bar is on screen */
	int64_t start, last; /* monotonic us */
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

import_report *import_report_new(uint64_t total_bytes, size_t files, int tty)
{
	import_report *r = base_calloc(1, sizeof *r);
	r->files_given = files;
	r->total_bytes = total_bytes;
	r->tty = tty;
	r->start = r->last = now_us();
	return r;
}

void import_report_free(import_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < KEEP_REASONS; i++)
		free(r->reasons[i]);
	free(r);
}

void import_report_loaded(import_report *r, size_t resources)
{
	r->loaded += resources;
}

void import_report_reject(import_report *r, size_t resources, const char *fmt, ...)
{
	r->rejected += resources;
	if (r->rejections < KEEP_REASONS) {
		char *s = base_malloc(REASON_MAX);
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s, REASON_MAX, fmt, ap);
		va_end(ap);
		r->reasons[r->rejections] = s;
	}
	r->rejections++;
}

void import_report_bytes(import_report *r, uint64_t bytes)
{
	r->done_bytes += bytes;
}

void import_report_file(import_report *r)
{
	r->files++;
}

size_t import_report_rejections(const import_report *r)
{
	return r->rejections;
}

/* "1:02:03" or "2:03" into out. */
static void format_duration(double s, char *out, size_t n)
{
	long t = s < 0 ? 0 : s > 359999 ? 359999 : (long)(s + 0.5);
	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

void import_report_tick(import_report *r, int force)
{
	int64_t now = now_us();
	if (!force && now - r->last < (r->tty ? TTY_EVERY_US : PLAIN_EVERY_US))
		return;
	r->last = now;
	double secs = (double)(now - r->start) / 1e6;
	double rate = secs > 0 ? (double)r->loaded / secs : 0;
	double frac = r->total_bytes ? (double)r->done_bytes / (double)r->total_bytes : 0;
	if (frac > 1)
		frac = 1;
	char eta[32] = "?";
	if (frac > 0)
		format_duration(secs * (1 - frac) / frac, eta, sizeof eta);
	if (!r->tty) {
		fprintf(stderr,
		        "bron import: %zu resources, %.0f/s, %.0f%% of input, ETA %s, %zu "
		        "rejected\n",
		        r->loaded, rate, frac * 100, eta, r->rejected);
		return;
	}
	char bar[25];
	size_t fill = (size_t)(frac * (sizeof bar - 1));
	for (size_t i = 0; i < sizeof bar - 1; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[sizeof bar - 1] = 0;
	fprintf(stderr, "\r[%s] %3.0f%%  %zu resources  %.0f/s  ETA %s  %zu rejected\033[K", bar,
	        frac * 100, r->loaded, rate, eta, r->rejected);
	fflush(stderr);
	r->drawn = 1;
}

void import_report_summary(import_report *r)
{
	if (r->drawn) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
	double secs = (double)(now_us() - r->start) / 1e6;
	printf("loaded:   %zu resources\n", r->loaded);
	printf("rejected: %zu resources, %zu rejection%s\n", r->rejected, r->rejections,
	       r->rejections == 1 ? "" : "s");
	if (r->files < r->files_given)
		printf("files:    %zu (%zu not read: stopped)\n", r->files,
		       r->files_given - r->files);
	else
		printf("files:    %zu\n", r->files);
	printf("time:     %.2f s\n", secs);
	printf("rate:     %.0f resources/s\n", secs > 0 ? (double)r->loaded / secs : 0.0);
	size_t shown = r->rejections < KEEP_REASONS ? r->rejections : KEEP_REASONS;
	for (size_t i = 0; i < shown; i++)
		printf("rejected: %s\n", r->reasons[i]);
	if (r->rejections > shown)
		printf("rejected: ... and %zu more\n", r->rejections - shown);
	fflush(stdout);
}
