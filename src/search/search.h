/*
 * search.h - FHIR R4 search: the index rows extracted from a resource on
 * write (index.c, by evaluating every applicable SearchParameter expression
 * with the FHIRPath engine), and the translation of search URL parameters
 * into a query (parse.c) compiled to SQL over the index tables (compile.c).
 * The SQL is engine-neutral apart from the dialect switch; the store runs it
 * (store_search in store.h). Nothing here touches a database or keeps
 * mutable global state; compiled FHIRPath expressions are built once at
 * search_init() and shared read-only by all threads.
 *
 * The index tables (created by the store; every value is bound, never pasted):
 *   resource(rid INTEGER PRIMARY KEY, type, id, version, deleted, last_updated, seq)
 *   sp_string   (pid, rid, grp, norm, exact)
 *   sp_token    (pid, rid, grp, system, code, text)
 *   sp_date     (pid, rid, grp, lo, hi)                 -- microseconds, inclusive
 *   sp_number   (pid, rid, grp, value, lo, hi)
 *   sp_quantity (pid, rid, grp, value, lo, hi, system, code, cvalue, ccode)
 *   sp_reference(pid, rid, grp, ttype, tid, url, isystem, ivalue)
 *   sp_uri      (pid, rid, grp, uri)
 *   sp_text     (pid, rid, norm)                        -- _text/_content, no value index
 *   sp_compartment(rid, patient)                        -- Patient compartment membership
 * Only the current version of a resource has rows; `rid` is resource.rid.
 * Text columns never hold NULL: an absent system/code/unit is ''.
 */
#ifndef BRON_SEARCH_H
#define BRON_SEARCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../model/model.h"

/* Compile every search-parameter expression once. Call before any other
 * search_* function (idempotent, thread-safe). 0 on success. */
int search_init(void);

/* ---- parameter ids ---- */

/* A stable small integer for (resource type, parameter code) as defined by
 * the generated model, used as `pid` in the index tables; 0 if unknown.
 * Components of composite parameters use search_component_pid(). */
uint32_t search_pid(const char *resource_type, const char *code);
uint32_t search_component_pid(uint32_t composite_pid, unsigned component);

/* ---- index rows (index.c) ---- */

typedef enum search_row_kind {
	SEARCH_ROW_STRING,
	SEARCH_ROW_TOKEN,
	SEARCH_ROW_DATE,
	SEARCH_ROW_NUMBER,
	SEARCH_ROW_QUANTITY,
	SEARCH_ROW_REFERENCE,
	SEARCH_ROW_URI,
	SEARCH_ROW_TEXT /* _text/_content full text: s[0] the normalised text (sp_text) */
} search_row_kind;

/* One index row. Which fields are used depends on kind (see the table
 * columns above); unused strings are "" and unused numbers 0. */
typedef struct search_row {
	search_row_kind kind;
	uint32_t pid;
	uint32_t grp; /* composite: the ordinal of the element the components came from; else 0 */
	const char *s[5]; /* string: norm, exact | token: system, code, text |
	                   * reference: ttype, tid, url, isystem, ivalue | uri: uri |
	                   * quantity: system, code, ccode */
	double d[4];      /* number: value, lo, hi | quantity: value, lo, hi, cvalue */
	int64_t lo, hi;   /* date */
} search_row;

typedef struct search_rows {
	search_row *items; /* arena-owned */
	size_t count, cap;
	const char **patients; /* ids of the Patients whose compartment holds the resource */
	size_t npatients, patients_cap;
} search_rows;

/* Extract every index row of `resource` (a parsed, validated resource of
 * `type` whose id is `id`). Rows and strings come from `a`. Expression
 * evaluation errors are reported as warnings in d and skip that parameter;
 * returns 0, or -1 only when the resource cannot be indexed at all. */
int search_index(const json_t *resource, const char *type, const char *id, arena *a,
                 search_rows *out, diag_list *d);

/* search_index for a server whose absolute base URL is `base` (no trailing
 * slash; NULL: none): references under it ("<base>/Patient/1") are indexed
 * as the local references they are ("Patient/1"). */
int search_index_base(const json_t *resource, const char *type, const char *id, const char *base,
                      arena *a, search_rows *out, diag_list *d);

/* The normalised form of a string for matching: lower case, accents and
 * punctuation folded away as the spec asks for string search ("Renée" ->
 * "renee"). Arena-owned. */
char *search_normalize(arena *a, const char *s);

/* The longest value an index row keeps in a string column (bytes): longer
 * values are cut (at a UTF-8 boundary) on write, and search values the same
 * way, so they still match. PostgreSQL's b-trees take at most ~2700 bytes
 * per entry; both engines cut alike so they answer alike. Full text
 * (_text/_content) is not cut. */
#define SEARCH_MAX_VALUE 1000

/* s, or its first SEARCH_MAX_VALUE bytes at most (arena-owned copy). */
const char *search_cap(arena *a, const char *s);

/* ---- queries (parse.c, compile.c) ---- */

typedef struct search_query search_query; /* parsed; arena-owned */

typedef enum search_total {
	SEARCH_TOTAL_NONE,
	SEARCH_TOTAL_ESTIMATE,
	SEARCH_TOTAL_ACCURATE
} search_total;
typedef enum search_summary {
	SEARCH_SUMMARY_FALSE,
	SEARCH_SUMMARY_TRUE,
	SEARCH_SUMMARY_TEXT,
	SEARCH_SUMMARY_DATA,
	SEARCH_SUMMARY_COUNT
} search_summary;

/* An _include or _revinclude. */
typedef struct search_include {
	const char *source_type; /* "Observation" in Observation:subject, or "*" */
	const char *param;       /* "subject", or "*" */
	const char *target_type; /* optional ":Patient", or NULL */
	int iterate;             /* :iterate (or :recurse) */
	int reverse;             /* _revinclude */
} search_include;

/* Parse the parameters of a search on `type` (NULL: all types, with _type).
 * keys/vals are the decoded query (or form) parameters in order. With
 * `strict` (Prefer: handling=strict) an unknown or malformed parameter is an
 * error (-1, diagnostics code "invalid"/"not-supported" for a 400);
 * otherwise it is skipped and reported as a warning in d, which the REST
 * layer returns as an OperationOutcome entry. */
int search_parse(arena *a, const char *type, const char *const *keys, const char *const *vals,
                 size_t n, int strict, search_query **out, diag_list *d);

/* Add a condition restricting the query to the compartment of Patient `id`
 * (Patient/123/Observation?... and patient-context searches). */
void search_query_in_patient_compartment(search_query *q, const char *patient_id);

/* The instants a FHIR date, dateTime or instant covers at its precision
 * ("2026" is the whole year), inclusive microseconds; 0 on success. */
int search_date_range(const char *s, int64_t *lo, int64_t *hi);

/* Result shaping, as parsed. */
size_t search_query_count(const search_query *q); /* _count (default 20, max 1000) */
search_total search_query_total(const search_query *q);
search_summary search_query_summary(const search_query *q);
const char *const *search_query_elements(const search_query *q); /* NULL-terminated or NULL */
size_t search_query_includes(const search_query *q, const search_include **out);
const char *const *search_query_types(const search_query *q); /* _type list, or NULL */
/* The resource types a query looks into beyond its own: chain targets and
 * _has types, nested ones too (access checks: a search must not tell
 * anything about resources its sender may not search). Up to max into out;
 * returns how many (duplicates possible). */
size_t search_query_joined_types(const search_query *q, const char **out, size_t max);
/* The parameters as given, re-encoded for self/next links (without paging ones). */
const char *search_query_canonical(const search_query *q);

/* SQL output: the WHERE condition and ORDER BY over `resource r`, with `?`
 * placeholders (the PostgreSQL engine renumbers them), and the binds. */
typedef enum search_dialect { SEARCH_SQLITE, SEARCH_POSTGRES } search_dialect;

typedef enum search_bind_kind {
	SEARCH_BIND_TEXT,
	SEARCH_BIND_INT,
	SEARCH_BIND_REAL
} search_bind_kind;
typedef struct search_bind {
	search_bind_kind kind;
	const char *text;
	int64_t i;
	double r;
} search_bind;

typedef struct search_sql {
	const char *where;    /* e.g. "r.type = ? AND r.deleted = 0 AND r.rid IN (SELECT ...)" */
	const char *order_by; /* e.g. "r.rid" or a sort-key expression list ending in r.rid */
	search_bind *binds;   /* for `where` then `order_by`, in order */
	size_t nbinds;
} search_sql;

/* Compile to SQL. `after_rid` > 0 continues after that rid (keyset paging;
 * only for queries without _sort, which are ordered by r.rid; sorted
 * queries page with OFFSET, added by the store). 0 on success; -1 with a
 * diagnostic when the query cannot be expressed. */
int search_compile(const search_query *q, search_dialect dialect, int64_t after_rid, arena *a,
                   search_sql *out, diag_list *d);

/* SQL selecting what one _include/_revinclude adds for the resources with
 * row ids `rids` (compile.c). The where/order_by run like a search's. */
int search_compile_include(const search_include *inc, const int64_t *rids, size_t n,
                           search_dialect dialect, arena *a, search_sql *out, diag_list *d);

/* The DDL of the index tables and their indexes for `dialect` (CREATE ...
 * IF NOT EXISTS statements separated by ';'), run by the store when it opens.
 * The resource table itself belongs to the store. */
const char *search_schema_sql(search_dialect dialect);

#endif
