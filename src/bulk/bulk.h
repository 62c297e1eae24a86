/*
 * bulk.h - FHIR Bulk Data export jobs ($export): kicked off by the REST
 * layer, run one at a time by a worker thread, written as NDJSON files in a
 * directory of their own, and kept across restarts.
 *
 * An export reads a consistent snapshot: the state of the store as of the
 * newest write when the job was accepted (store_snapshot), however long the
 * job runs and while writes go on. A job lives in DIR/<id>/: job.json (its
 * request, state and files, replaced atomically) and <Type>-<n>.ndjson. A
 * job that was running when the server stopped resumes at the first type it
 * had not finished.
 */
#ifndef BRON_BULK_H
#define BRON_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../store/store.h"

typedef struct bulk bulk;

/* Open the job directory (made with the first job) and start the worker, which
 * first resumes the jobs left unfinished. NULL with *err malloc'ed. */
bulk *bulk_open(store *st, const char *dir, char **err);
/* Stop the worker (a job running stops between pages and resumes at the
 * next open) and free. */
void bulk_close(bulk *b);

#define BULK_RESOURCES_PER_FILE 100000

typedef struct bulk_request {
	const char *owner;        /* who may poll and download: the token's subject ("" open) */
	const char *request;      /* the kick-off URL, for the manifest */
	const char *level;        /* "system", "patient" or "group" */
	const char *const *types; /* _type (NULL/0: every type that has data) */
	size_t ntypes;
	int64_t since;                   /* _since, microseconds (0: none) */
	const char *const *type_filters; /* _typeFilter: "Type?query" */
	size_t nfilters;
	const char *elements;        /* _elements: "a,b" (NULL: whole resources) */
	const char *const *patients; /* patient/group level: the patients (NULL with
	                              * level patient: every patient) */
	size_t npatients;
	int history; /* every version, deletions too (a migration), not just current */
} bulk_request;

/* Accept a job: its snapshot is taken now. 0 with *id malloc'ed; -1 (the
 * request: a bad _typeFilter) or -2 (the server: the store unreadable, a full
 * disk) with *err malloc'ed. */
int bulk_kickoff(bulk *b, const bulk_request *rq, char **id, char **err);

enum { BULK_RUNNING, BULK_DONE, BULK_FAILED, BULK_NONE };

typedef struct bulk_file {
	const char *type, *name; /* name: the file in the job's directory */
	int64_t count;
} bulk_file;

typedef struct bulk_status {
	int state;                /* BULK_* (BULK_NONE: no such job for this owner) */
	const char *request;      /* the kick-off URL */
	int64_t transaction_time; /* microseconds */
	const char *progress;     /* e.g. "Observation: 12000 resources, 5 of 30 types" */
	const char *error;        /* BULK_FAILED: why */
	bulk_file *files;
	size_t nfiles;
	int history;
} bulk_status;

/* The state of job `id` if `owner` kicked it off (strings from a). */
void bulk_status_of(bulk *b, arena *a, const char *id, const char *owner, bulk_status *out);
/* Cancel and remove job `id` of `owner`: 0, or -1 when there is none. */
int bulk_cancel(bulk *b, const char *id, const char *owner);
/* The path of output file `name` of job `id` of `owner` (a), or NULL. */
const char *bulk_file_path(bulk *b, arena *a, const char *id, const char *owner, const char *name);

/* Write the snapshot of rq into files of dir directly, on this thread
 * (bron export): 0, or -1 with *err. `progress` (may be NULL) is called
 * after each page with the resources written so far. */
int bulk_export_dir(store *st, const bulk_request *rq, const char *dir,
                    void (*progress)(void *ctx, const char *type, int64_t n), void *ctx,
                    bulk_status *out, arena *a, char **err);

#endif
