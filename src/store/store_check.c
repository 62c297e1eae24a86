/*
 * store_check.c - store_pin and store_check (store.h), the store side of
 * `bron check`: engine-neutral SQL over the engine primitives pin, rows,
 * select and integrity (store_int.h). The versions and current rows are
 * checked with set queries; the index rows are walked in batches of
 * resource rows in rid order, each batch's stored rows (every index table,
 * rid range of the batch) compared with the rows the caller derives from
 * the bodies, as multisets of rendered rows (duplicates folded: SQLite keys
 * them away, PostgreSQL keeps what it was given).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define BATCH        256
#define MAX_REPORTED 1000 /* rows of one set query reported by name */

int store_pin(store *s, int on)
{
	return s->e->pin(s, on);
}

typedef struct checker {
	store *s;
	store_check_fn derive;
	void *dctx;
	void (*problem)(void *ctx, const char *line);
	void *pctx;
	store_check_report *rep;
} checker;

static void report(checker *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(checker *k, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	k->rep->problems++;
	k->problem(k->pctx, line);
}

static const char *nz(const char *v)
{
	return v ? v : "NULL";
}

/* A set query whose every row is a problem: `ncols` cells to `each`. */
static int each_row(checker *k, const char *sql, size_t ncols,
                    void (*each)(checker *k, const char *const *v))
{
	arena *a = arena_new(4096);
	char *q = arena_printf(a, "%s LIMIT %d", sql, MAX_REPORTED);
	const char **v;
	size_t n;
	int rc = k->s->e->rows(k->s, a, q, NULL, 0, ncols, &v, &n);
	for (size_t i = 0; !rc && i < n; i++)
		each(k, v + i * ncols);
	arena_free(a);
	return rc;
}

static int64_t num(const char *v)
{
	return v ? strtoll(v, NULL, 10) : 0;
}

/* ---- versions and current rows ---- */

static void gap(checker *k, const char *const *v)
{
	if (!v[3])
		report(k, "%s/%s: the first stored version is %s, not 1", v[0], v[1], v[2]);
	else
		report(k, "%s/%s: version %s follows version %s (versions %lld..%lld missing)",
		       v[0], v[1], v[2], v[3], (long long)num(v[3]) + 1, (long long)num(v[2]) - 1);
}

static void current_bad(checker *k, const char *const *v)
{
	/* r.type, r.id, r.version, r.deleted, r.last_updated, r.seq, v.seq, v.type,
	 * v.id, v.version, v.deleted, v.last_updated, m.maxv */
	if (!v[12])
		report(k, "%s/%s version %s: the current row has no stored versions", v[0], v[1],
		       v[2]);
	else if (num(v[12]) != num(v[2]))
		report(k, "%s/%s: the current row names version %s, but the newest stored is %s",
		       v[0], v[1], v[2], v[12]);
	if (!v[6])
		report(k, "%s/%s version %s: the current row's seq %s is no stored version", v[0],
		       v[1], v[2], v[5]);
	else if (strcmp(v[7], v[0]) || strcmp(v[8], v[1]) || strcmp(v[9], v[2]))
		report(k, "%s/%s version %s: the current row's seq %s is %s/%s version %s", v[0],
		       v[1], v[2], v[5], v[7], v[8], v[9]);
	else if (strcmp(v[3], v[10]) || strcmp(v[4], v[11]))
		report(k,
		       "%s/%s version %s: the current row says deleted=%s lastUpdated=%s, the "
		       "version deleted=%s lastUpdated=%s",
		       v[0], v[1], v[2], v[3], v[4], v[10], v[11]);
}

static void orphan_version(checker *k, const char *const *v)
{
	report(k, "%s/%s: %s stored version(s) but no current row", v[0], v[1], v[2]);
}

static void body_bad(checker *k, const char *const *v)
{
	report(k, "%s/%s version %s: deleted=%s but %s", v[0], v[1], v[2], v[3],
	       num(v[3]) == 0   ? "no body"
	       : num(v[3]) == 1 ? "a body"
	                        : "not 0 or 1");
}

static void contained_bad(checker *k, const char *const *v)
{
	/* r.type, r.id, r.version, r.deleted, r.container, c.rid, c.deleted, c.seq, r.seq,
	 * c.version */
	if (strcmp(v[3], "2"))
		report(k, "%s/%s version %s: a resource row with a container (%s)", v[0], v[1],
		       v[2], v[4]);
	else if (!v[5])
		report(k, "%s (%s) version %s: contained in row %s, which does not exist", v[1],
		       v[0], v[2], nz(v[4]));
	else
		report(k,
		       "%s (%s) version %s: its container is deleted=%s version %s seq %s, the "
		       "contained row says seq %s",
		       v[1], v[0], v[2], v[6], v[9], v[7], v[8]);
}

static int check_versions(checker *k)
{
	int rc = each_row(k,
	                  "SELECT type, id, version, prev FROM (SELECT type, id, version, "
	                  "lag(version) OVER (PARTITION BY type, id ORDER BY version) AS prev "
	                  "FROM resource_version) x WHERE (prev IS NULL AND version <> 1) OR "
	                  "(prev IS NOT NULL AND version <> prev + 1)",
	                  4, gap);
	if (!rc)
		rc = each_row(k,
		              "SELECT r.type, r.id, r.version, r.deleted, r.last_updated, r.seq, "
		              "v.seq, v.type, v.id, v.version, v.deleted, v.last_updated, m.maxv "
		              "FROM resource r LEFT JOIN resource_version v ON v.seq = r.seq "
		              "LEFT JOIN (SELECT type, id, max(version) AS maxv FROM "
		              "resource_version GROUP BY type, id) m ON m.type = r.type AND m.id = "
		              "r.id WHERE r.deleted <> 2 AND (v.seq IS NULL OR v.type <> r.type OR "
		              "v.id <> r.id OR v.version <> r.version OR v.deleted <> r.deleted OR "
		              "v.last_updated <> r.last_updated OR m.maxv IS NULL OR m.maxv <> "
		              "r.version)",
		              13, current_bad);
	if (!rc)
		rc = each_row(k,
		              "SELECT v.type, v.id, count(*) FROM resource_version v LEFT JOIN "
		              "resource r ON r.type = v.type AND r.id = v.id WHERE r.rid IS NULL "
		              "GROUP BY v.type, v.id",
		              3, orphan_version);
	if (!rc)
		rc = each_row(k,
		              "SELECT type, id, version, deleted FROM resource_version WHERE "
		              "(deleted = 0 AND body IS NULL) OR (deleted = 1 AND body IS NOT "
		              "NULL) OR deleted NOT IN (0, 1)",
		              4, body_bad);
	if (!rc)
		rc = each_row(k,
		              "SELECT r.type, r.id, r.version, r.deleted, r.container, c.rid, "
		              "c.deleted, c.seq, r.seq, c.version FROM resource r LEFT JOIN "
		              "resource c ON c.rid = r.container WHERE (r.deleted = 2 AND "
		              "(c.rid IS NULL OR c.deleted <> 0 OR c.seq <> r.seq OR c.version <> "
		              "r.version)) OR (r.deleted <> 2 AND r.container IS NOT NULL)",
		              10, contained_bad);
	return rc;
}

/* ---- index rows ---- */

/* Index tables in search_row_kind order, then sp_compartment, with their
 * columns in the order of store__row_binds. */
static const char *const tables[] = {"sp_string", "sp_token",    "sp_date",
                                     "sp_number", "sp_quantity", "sp_reference",
                                     "sp_uri",    "sp_text",     "sp_compartment"};
static const char *const columns[] = {
        "pid, rid, grp, norm, exact",
        "pid, rid, grp, system, code, text",
        "pid, rid, grp, lo, hi",
        "pid, rid, grp, value, lo, hi",
        "pid, rid, grp, value, lo, hi, system, code, cvalue, ccode",
        "pid, rid, grp, ttype, tid, url, isystem, ivalue",
        "pid, rid, grp, uri",
        "pid, rid, norm",
        "rid, patient",
};
static const size_t ncolumns[] = {5, 6, 5, 6, 10, 8, 4, 3, 2};
#define NTABLES 9

/* One rendered index row of resource row `rid`: "table|cells..." (cells
 * separated by '|'), and the prefix that names its parameter. */
typedef struct irow {
	int64_t rid;
	const char *key;
	size_t prefix; /* bytes of key up to the parameter (table, pid, rid, grp) */
} irow;

typedef struct rowset {
	irow *v;
	size_t n, cap;
} rowset;

static void rowset_add(rowset *rs, arena *a, int64_t rid, int table, const char *const *cells,
                       size_t n)
{
	buf b;
	buf_init(&b, 0);
	buf_puts(&b, tables[table]);
	size_t prefix = 0, keycols = table == NTABLES - 1 ? 1 : table == 7 ? 2 : 3;
	for (size_t i = 0; i < n; i++) {
		buf_putc(&b, '|');
		buf_puts(&b, cells[i] ? cells[i] : "NULL");
		if (i + 1 == keycols)
			prefix = b.len;
	}
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 256;
		irow *w = arena_alloc(a, rs->cap * sizeof *w);
		if (rs->n)
			memcpy(w, rs->v, rs->n * sizeof *w);
		rs->v = w;
	}
	rs->v[rs->n++] = (irow){rid, arena_memdup(a, b.data, b.len), prefix};
	buf_free(&b);
}

/* The rendered rows of what the write path stores for `rows` at rid. */
static void rowset_expect(rowset *rs, arena *a, int64_t rid, const search_rows *rows)
{
	char num_[10][40];
	for (size_t i = 0; rows && i < rows->count; i++) {
		search_bind b[10];
		size_t n = store__row_binds(&rows->items[i], rid, b);
		const char *cells[10];
		for (size_t c = 0; c < n; c++) {
			if (b[c].kind == SEARCH_BIND_TEXT) {
				cells[c] = b[c].text;
			} else if (b[c].kind == SEARCH_BIND_INT) {
				snprintf(num_[c], sizeof num_[c], "%lld", (long long)b[c].i);
				cells[c] = num_[c];
			} else {
				snprintf(num_[c], sizeof num_[c], "%.17g",
				         b[c].r == 0 ? 0.0 : b[c].r);
				cells[c] = num_[c];
			}
		}
		rowset_add(rs, a, rid, (int)rows->items[i].kind, cells, n);
	}
	for (size_t i = 0; rows && i < rows->npatients; i++) {
		char r[40];
		snprintf(r, sizeof r, "%lld", (long long)rid);
		const char *cells[2] = {r, rows->patients[i]};
		rowset_add(rs, a, rid, NTABLES - 1, cells, 2);
	}
}

static int irow_cmp(const void *x, const void *y)
{
	const irow *a = x, *b = y;
	if (a->rid != b->rid)
		return a->rid < b->rid ? -1 : 1;
	return strcmp(a->key, b->key);
}

/* Sort and fold duplicates. */
static void rowset_sort(rowset *rs)
{
	if (!rs->n)
		return;
	qsort(rs->v, rs->n, sizeof *rs->v, irow_cmp);
	size_t k = 1;
	for (size_t i = 1; i < rs->n; i++)
		if (irow_cmp(&rs->v[i], &rs->v[k - 1]))
			rs->v[k++] = rs->v[i];
	rs->n = k;
}

/* One resource row of a batch and what it should have. */
typedef struct item {
	int64_t rid, version, container;
	int deleted;
	const char *type, *id;
	const char *label; /* "Type/id version N" for problems */
} item;

/* The index in it[] (rid order) of row rid, or n. */
static size_t item_at(const item *it, size_t n, int64_t rid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (it[mid].rid < rid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && it[lo].rid == rid ? lo : n;
}

static const char *item_of(const item *it, size_t n, int64_t rid)
{
	size_t i = item_at(it, n, rid);
	return i < n ? it[i].label : NULL;
}

/* Report the difference of expected and stored rows (both sorted). A
 * missing row and an extra one of the same parameter are one difference. */
static void compare_rows(checker *k, const rowset *exp, const rowset *got, const item *it,
                         size_t nit)
{
	size_t i = 0, j = 0;
	while (i < exp->n || j < got->n) {
		int c = i == exp->n ? 1 : j == got->n ? -1 : irow_cmp(&exp->v[i], &got->v[j]);
		if (c == 0) {
			i++;
			j++;
			continue;
		}
		/* c != 0: exactly one of them is set here */
		const irow *miss = c < 0 ? &exp->v[i] : NULL, *extra = c < 0 ? NULL : &got->v[j];
		/* the same parameter next on the other side: a changed value */
		if (miss && j < got->n && got->v[j].rid == miss->rid &&
		    got->v[j].prefix == miss->prefix &&
		    !strncmp(got->v[j].key, miss->key, miss->prefix))
			extra = &got->v[j];
		else if (extra && i < exp->n && exp->v[i].rid == extra->rid &&
		         exp->v[i].prefix == extra->prefix &&
		         !strncmp(exp->v[i].key, extra->key, extra->prefix))
			miss = &exp->v[i];
		/* a pair is of one rid */
		const char *who = item_of(it, nit, c < 0 ? exp->v[i].rid : got->v[j].rid);
		if (miss && extra) {
			report(k, "%s: index row differs: stored %s, from the body %s",
			       who ? who : "?", extra->key, miss->key);
			i++;
			j++;
		} else if (miss) {
			report(k, "%s: index row missing: %s", who ? who : "?", miss->key);
			i++;
		} else {
			report(k, "%s: extra index row: %s", who ? who : "?", got->v[j].key);
			j++;
		}
	}
}

/* The derived rows of a contained resource: the container's body indexed,
 * its contained entry `type`/`cid` picked. 0 when found. */
static int contained_rows(checker *k, arena *a, const store_version *container, const char *type,
                          const char *cid, const search_rows **rows)
{
	search_rows all = {0};
	store_contained *sc = NULL;
	size_t nsc = 0;
	const char *why = NULL;
	if (k->derive(k->dctx, a, container, &all, &sc, &nsc, &why))
		return -1;
	for (size_t i = 0; i < nsc; i++)
		if (!strcmp(sc[i].type, type) && !strcmp(sc[i].cid, cid)) {
			*rows = sc[i].index;
			return 0;
		}
	return -1;
}

/* Read the bodies of rows (lo, hi]: in one query, or when one of them does
 * not open (PostgreSQL: altered or moved), one by one, naming it. */
static int read_bodies(checker *k, arena *a, int64_t lo, int64_t hi, size_t n, store_version **out,
                       size_t *got)
{
	static const char sql[] =
	        "SELECT r.rid, r.type, r.id, r.version, r.last_updated, v.body, r.seq, r.deleted "
	        "FROM resource r LEFT JOIN resource_version v ON v.seq = r.seq WHERE r.rid > ? "
	        "AND r.rid <= ? ORDER BY r.rid LIMIT ?";
	search_bind b[2] = {{.kind = SEARCH_BIND_INT, .i = lo}, {.kind = SEARCH_BIND_INT, .i = hi}};
	int more;
	int rc = k->s->e->select(k->s, NULL, a, sql, b, 2, n, out, got, &more);
	if (rc != STORE_ERROR)
		return rc;
	/* one at a time */
	store_version *all = arena_calloc(a, (n + 1) * sizeof *all);
	const char **ids;
	size_t nids;
	rc = k->s->e->rows(k->s, a,
	                   "SELECT rid, type, id, version FROM resource WHERE rid > ? AND rid <= ? "
	                   "ORDER BY rid",
	                   b, 2, 4, &ids, &nids);
	if (rc)
		return rc;
	size_t m = 0;
	for (size_t i = 0; i < nids && m < n; i++) {
		int64_t rid = num(ids[4 * i]);
		search_bind one[2] = {{.kind = SEARCH_BIND_INT, .i = rid - 1},
		                      {.kind = SEARCH_BIND_INT, .i = rid}};
		store_version *v;
		size_t nv;
		if (k->s->e->select(k->s, NULL, a, sql, one, 2, 1, &v, &nv, &more) || !nv) {
			report(k,
			       "%s/%s version %s: the stored body cannot be read (altered, or "
			       "not sealed with this store's key)",
			       nz(ids[4 * i + 1]), nz(ids[4 * i + 2]), nz(ids[4 * i + 3]));
			all[m] = (store_version){.rid = rid,
			                         .type = ids[4 * i + 1],
			                         .id = ids[4 * i + 2],
			                         .version = num(ids[4 * i + 3]),
			                         .deleted = -1};
		} else {
			all[m] = v[0];
		}
		m++;
	}
	*out = all;
	*got = m;
	return STORE_OK;
}

/* Check one batch of resource rows: those after `after`, up to BATCH of
 * them. *next: the last rid (0: no rows were left). */
static int check_batch(checker *k, int64_t after, int64_t *next)
{
	arena *a = arena_new(1 << 20);
	*next = 0;
	search_bind b[2] = {{.kind = SEARCH_BIND_INT, .i = after}, {.kind = SEARCH_BIND_INT}};
	const char **meta;
	size_t n;
	char *sql = arena_printf(a, "SELECT rid FROM resource WHERE rid > ? ORDER BY rid LIMIT %d",
	                         BATCH);
	int rc = k->s->e->rows(k->s, a, sql, b, 1, 1, &meta, &n);
	if (rc || !n) {
		arena_free(a);
		return rc;
	}
	int64_t hi = num(meta[n - 1]);
	b[1].i = hi;
	store_version *v;
	size_t nv;
	if ((rc = read_bodies(k, a, after, hi, n, &v, &nv))) {
		arena_free(a);
		return rc;
	}
	item *it = arena_calloc(a, (nv + 1) * sizeof *it);
	rowset exp = {0}, got = {0};
	/* the contained rows each live container should have: "Type|Type/id#cid" */
	rowset kexp = {0}, kgot = {0};
	for (size_t i = 0; i < nv; i++) {
		store_version *x = &v[i];
		it[i] = (item){.rid = x->rid,
		               .version = x->version,
		               .deleted = x->deleted,
		               .type = x->type,
		               .id = x->id};
		it[i].label = arena_printf(
		        a, x->deleted == 2 ? "%s (%s) version %lld" : "%s/%s version %lld",
		        x->deleted == 2 ? x->id : x->type, x->deleted == 2 ? x->type : x->id,
		        (long long)x->version);
		if (x->deleted == 0) {
			search_rows rows = {0};
			store_contained *sc = NULL;
			size_t nsc = 0;
			const char *why = NULL;
			if (k->derive(k->dctx, a, x, &rows, &sc, &nsc, &why)) {
				report(k, "%s: the stored body is not the resource it claims: %s",
				       it[i].label, why ? why : "?");
				continue; /* its rows cannot be told; skip them */
			}
			rowset_expect(&exp, a, x->rid, &rows);
			for (size_t c = 0; c < nsc; c++) {
				const char *cells[2] = {
				        sc[c].type,
				        arena_printf(a, "%s/%s#%s", x->type, x->id, sc[c].cid)};
				rowset_add(&kexp, a, x->rid, 0, cells, 2);
			}
		} else if (x->deleted == 2) {
			/* "ContainerType/containerId#cid" */
			const char *slash = strchr(x->id, '/'), *hash = strrchr(x->id, '#');
			const search_rows *rows = NULL;
			if (slash && hash > slash && x->body) {
				store_version cv = *x;
				cv.type = arena_strndup(a, x->id, (size_t)(slash - x->id));
				cv.id = arena_strndup(a, slash + 1, (size_t)(hash - slash - 1));
				cv.deleted = 0;
				if (contained_rows(k, a, &cv, x->type, hash + 1, &rows))
					rows = NULL; /* reported with the container's contained rows
					              */
			}
			if (rows)
				rowset_expect(&exp, a, x->rid, rows);
			else
				it[i].deleted = -1; /* unknown: its rows are not compared */
		}
		/* deleted == 1: no rows; -1: the body could not be read */
	}
	/* the stored rows of the batch's rid range */
	for (int t = 0; t < NTABLES && !rc; t++) {
		const char **cells;
		size_t nr;
		char *q = arena_printf(a, "SELECT %s FROM %s WHERE rid > ? AND rid <= ?",
		                       columns[t], tables[t]);
		rc = k->s->e->rows(k->s, a, q, b, 2, ncolumns[t], &cells, &nr);
		size_t ridcol = t == NTABLES - 1 ? 0 : 1;
		for (size_t r = 0; !rc && r < nr; r++) {
			const char *const *row = cells + r * ncolumns[t];
			int64_t rid = num(row[ridcol]);
			/* rows of a body that could not be read are not compared */
			size_t at = item_at(it, nv, rid);
			if (at < nv && it[at].deleted < 0)
				continue;
			rowset_add(&got, a, rid, t, row, ncolumns[t]);
		}
		k->rep->index_rows += (int64_t)nr;
	}
	if (!rc) {
		const char **cells;
		size_t nr;
		rc = k->s->e->rows(
		        k->s, a,
		        "SELECT container, type, id FROM resource WHERE container > ? AND "
		        "container <= ?",
		        b, 2, 3, &cells, &nr);
		for (size_t r = 0; !rc && r < nr; r++)
			rowset_add(&kgot, a, num(cells[3 * r]), 0, cells + 3 * r + 1, 2);
	}
	if (!rc) {
		rowset_sort(&exp);
		rowset_sort(&got);
		compare_rows(k, &exp, &got, it, nv);
		rowset_sort(&kexp);
		rowset_sort(&kgot);
		/* contained resources: by name, not parameter */
		for (size_t i = 0, j = 0; i < kexp.n || j < kgot.n;) {
			int c = i == kexp.n   ? 1
			        : j == kgot.n ? -1
			                      : irow_cmp(&kexp.v[i], &kgot.v[j]);
			const irow *r = c <= 0 ? &kexp.v[i] : &kgot.v[j];
			const char *who = item_of(it, nv, r->rid);
			if (c < 0)
				report(k, "%s: contained resource row missing: %s", who ? who : "?",
				       r->key + strlen(tables[0]) + 1);
			else if (c > 0)
				report(k, "%s: contained resource row not in its body: %s",
				       who ? who : "?", r->key + strlen(tables[0]) + 1);
			i += c <= 0;
			j += c >= 0;
		}
	}
	*next = hi;
	arena_free(a);
	return rc;
}

static void integrity_problem(void *ctx, const char *line)
{
	checker *k = ctx;
	k->rep->problems++;
	k->problem(k->pctx, line);
}

static void orphan_rows(checker *k, const char *const *v)
{
	report(k, "%s: index rows of row %s, which is no resource", v[0], v[1]);
}

int store_check(store *s, store_check_fn derive, void *dctx,
                void (*problem)(void *ctx, const char *line), void *pctx, store_check_report *rep)
{
	memset(rep, 0, sizeof *rep);
	checker k = {s, derive, dctx, problem, pctx, rep};
	int rc = s->e->integrity(s, integrity_problem, &k);
	arena *a = arena_new(1024);
	const char **v;
	size_t n;
	if (!rc)
		rc = s->e->rows(s, a,
		                "SELECT (SELECT count(*) FROM resource WHERE deleted <> 2), "
		                "(SELECT count(*) FROM resource_version)",
		                NULL, 0, 2, &v, &n);
	if (!rc && n == 1) {
		rep->resources = num(v[0]);
		rep->versions = num(v[1]);
	}
	arena_free(a);
	if (!rc)
		rc = check_versions(&k);
	for (int t = 0; t < NTABLES && !rc; t++) {
		char sql[256];
		snprintf(sql, sizeof sql,
		         "SELECT DISTINCT '%s', x.rid FROM %s x LEFT JOIN resource r ON r.rid = "
		         "x.rid WHERE r.rid IS NULL",
		         tables[t], tables[t]);
		rc = each_row(&k, sql, 2, orphan_rows);
	}
	for (int64_t after = 0, next = 0; !rc; after = next) {
		rc = check_batch(&k, after, &next);
		if (!next)
			break;
	}
	return rc;
}
