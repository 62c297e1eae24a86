/*
 * ingest_limit.c - the raw SQLite limit for bench/ingest.sh: the resource
 * bodies and index rows Bron stored for each transaction Bundle, inserted
 * straight into a fresh database with the same schema, one transaction per
 * Bundle, synchronous=FULL, WAL, prepared statements. No HTTP, JSON or FHIR.
 *
 *   ingest_limit SRC.db MAP DST.db [CACHE_KIB [PER_TX [PAGE_SIZE]]]
 *
 * SRC.db: Bron's store after the load (closed cleanly). MAP: one line per
 * Bundle, "file<TAB>Type/id Type/id ..." (bench/lib/ingest_post.mjs --map).
 * DST.db: created (must not exist) with SRC's schema (sqlite_master, as
 * `sqlite3 SRC .schema` prints it). CACHE_KIB: page cache of the replay
 * connection, default 8192 (what Bron's writer uses). PER_TX: Bundles per
 * transaction, default 1 (more: what a larger group commit would give).
 * PAGE_SIZE: page size of DST, default SQLite's (as Bron's store).
 *
 * Everything is read into memory first; only the replay is timed. Prints
 * one line: BENCH bundles=N resources=N rows=N secs=S rps=N commits=N
 * wbytes=N (bytes this process caused to be written, from /proc/self/io)
 * cpu_s=S (user + system CPU of the replay).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static const char *const index_tables[] = {
	"sp_string", "sp_token", "sp_date", "sp_number", "sp_quantity",
	"sp_reference", "sp_uri", "sp_compartment",
};
#define NT (sizeof index_tables / sizeof *index_tables)

typedef struct {
	int table;              /* index into index_tables */
	sqlite3_value **vals;   /* ncols[table] values; the rid column is rebound */
} irow;

typedef struct {
	sqlite3_value *ver[6];  /* type, id, version, last_updated, deleted, body */
	sqlite3_value *cur[5];  /* type, id, version, deleted, last_updated */
	irow *rows;
	size_t nrows;
} res;

typedef struct {
	res *res;
	size_t n;
} bundle;

static sqlite3 *src, *dst;
static int ncols[NT], ridcol[NT];

static void die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "ingest_limit: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "ingest_limit: out of memory\n");
		exit(1);
	}
	return p;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(sql, db);
	return st;
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "ingest_limit: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long long write_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	long long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "write_bytes: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void step_done(sqlite3_stmt *st, sqlite3 *db)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die(sqlite3_sql(st), db);
	sqlite3_reset(st);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: ingest_limit SRC.db MAP DST.db [CACHE_KIB]\n");
		return 2;
	}
	int cache_kib = argc > 4 ? atoi(argv[4]) : 8192;
	size_t per_tx = argc > 5 && atoi(argv[5]) > 0 ? (size_t)atoi(argv[5]) : 1;
	int page_size = argc > 6 ? atoi(argv[6]) : 0;
	if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die(argv[1], src);
	FILE *mf = fopen(argv[2], "r");
	if (!mf) {
		perror(argv[2]);
		return 1;
	}

	/* ---- load: every Bundle's rows, from Bron's store, into memory ---- */
	sqlite3_stmt *get_cur = prep(src, "SELECT rid, seq, type, id, version, deleted, last_updated "
	                                  "FROM resource WHERE type=?1 AND id=?2");
	sqlite3_stmt *get_ver = prep(src, "SELECT type, id, version, last_updated, deleted, body "
	                                  "FROM resource_version WHERE seq=?1");
	sqlite3_stmt *get_idx[NT];
	char sql[256];
	for (size_t t = 0; t < NT; t++) {
		snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE rid=?1", index_tables[t]);
		get_idx[t] = prep(src, sql);
		ncols[t] = sqlite3_column_count(get_idx[t]);
		ridcol[t] = -1;
		for (int c = 0; c < ncols[t]; c++)
			if (!strcmp(sqlite3_column_name(get_idx[t], c), "rid"))
				ridcol[t] = c;
		if (ridcol[t] < 0) {
			fprintf(stderr, "ingest_limit: %s has no rid column\n", index_tables[t]);
			return 1;
		}
	}
	bundle *bs = NULL;
	size_t nb = 0, nres = 0, nrows = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, mf) > 0) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		bs = xrealloc(bs, (nb + 1) * sizeof *bs);
		bundle *b = &bs[nb++];
		memset(b, 0, sizeof *b);
		for (char *save = NULL, *tok = strtok_r(tab + 1, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			char *slash = strchr(tok, '/');
			if (!slash) {
				fprintf(stderr, "ingest_limit: bad reference %s in %s\n", tok, argv[2]);
				return 1;
			}
			*slash = 0;
			sqlite3_bind_text(get_cur, 1, tok, -1, SQLITE_STATIC);
			sqlite3_bind_text(get_cur, 2, slash + 1, -1, SQLITE_STATIC);
			if (sqlite3_step(get_cur) != SQLITE_ROW) {
				fprintf(stderr, "ingest_limit: %s/%s not in %s\n", tok, slash + 1, argv[1]);
				return 1;
			}
			b->res = xrealloc(b->res, (b->n + 1) * sizeof *b->res);
			res *r = &b->res[b->n++];
			memset(r, 0, sizeof *r);
			sqlite3_int64 rid = sqlite3_column_int64(get_cur, 0);
			sqlite3_int64 seq = sqlite3_column_int64(get_cur, 1);
			for (int c = 0; c < 5; c++)
				r->cur[c] = sqlite3_value_dup(sqlite3_column_value(get_cur, 2 + c));
			sqlite3_reset(get_cur);
			sqlite3_bind_int64(get_ver, 1, seq);
			if (sqlite3_step(get_ver) != SQLITE_ROW)
				die("resource_version row missing", src);
			for (int c = 0; c < 6; c++)
				r->ver[c] = sqlite3_value_dup(sqlite3_column_value(get_ver, c));
			sqlite3_reset(get_ver);
			for (size_t t = 0; t < NT; t++) {
				sqlite3_stmt *st = get_idx[t];
				sqlite3_bind_int64(st, 1, rid);
				while (sqlite3_step(st) == SQLITE_ROW) {
					r->rows = xrealloc(r->rows, (r->nrows + 1) * sizeof *r->rows);
					irow *ir = &r->rows[r->nrows++];
					ir->table = (int)t;
					ir->vals = xrealloc(NULL, ncols[t] * sizeof *ir->vals);
					for (int c = 0; c < ncols[t]; c++)
						ir->vals[c] = sqlite3_value_dup(sqlite3_column_value(st, c));
				}
				sqlite3_reset(st);
			}
			nrows += r->nrows;
			nres++;
		}
	}
	fclose(mf);

	/* ---- a fresh database with the same schema ---- */
	if (sqlite3_open_v2(argv[3], &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		die(argv[3], dst);
	if (page_size > 0) {
		snprintf(sql, sizeof sql, "PRAGMA page_size=%d", page_size);
		exec(dst, sql);
	}
	snprintf(sql, sizeof sql,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-%d; "
	         "PRAGMA temp_store=MEMORY;", cache_kib);
	exec(dst, sql);
	sqlite3_stmt *schema = prep(src, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
	                                 "AND name NOT LIKE 'sqlite_%' ORDER BY rowid");
	while (sqlite3_step(schema) == SQLITE_ROW)
		exec(dst, (const char *)sqlite3_column_text(schema, 0));
	sqlite3_finalize(schema);
	exec(dst, "INSERT INTO bron_schema SELECT version FROM (SELECT 3 AS version) "
	          "WHERE NOT EXISTS (SELECT 1 FROM bron_schema)");

	sqlite3_stmt *ins_ver = prep(dst, "INSERT INTO resource_version(type,id,version,last_updated,deleted,body) "
	                                  "VALUES(?1,?2,?3,?4,?5,?6)");
	sqlite3_stmt *ins_cur = prep(dst, "INSERT INTO resource(type,id,version,deleted,last_updated,seq) "
	                                  "VALUES(?1,?2,?3,?4,?5,?6)");
	sqlite3_stmt *ins_idx[NT];
	for (size_t t = 0; t < NT; t++) {
		int n = snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO %s VALUES(", index_tables[t]);
		for (int c = 0; c < ncols[t]; c++)
			n += snprintf(sql + n, sizeof sql - n, "%s?%d", c ? "," : "", c + 1);
		snprintf(sql + n, sizeof sql - n, ")");
		ins_idx[t] = prep(dst, sql);
	}
	sqlite3_stmt *begin = prep(dst, "BEGIN IMMEDIATE"), *commit = prep(dst, "COMMIT");

	/* ---- the replay, timed ---- */
	long long w0 = write_bytes();
	double c0 = cpu_s();
	double t0 = now_s();
	size_t commits = 0;
	for (size_t i = 0; i < nb; i++) {
		bundle *b = &bs[i];
		if (i % per_tx == 0)
			step_done(begin, dst);
		for (size_t j = 0; j < b->n; j++) {
			res *r = &b->res[j];
			for (int c = 0; c < 6; c++)
				sqlite3_bind_value(ins_ver, c + 1, r->ver[c]);
			step_done(ins_ver, dst);
			sqlite3_int64 seq = sqlite3_last_insert_rowid(dst);
			for (int c = 0; c < 5; c++)
				sqlite3_bind_value(ins_cur, c + 1, r->cur[c]);
			sqlite3_bind_int64(ins_cur, 6, seq);
			step_done(ins_cur, dst);
			sqlite3_int64 rid = sqlite3_last_insert_rowid(dst);
			for (size_t k = 0; k < r->nrows; k++) {
				irow *ir = &r->rows[k];
				sqlite3_stmt *st = ins_idx[ir->table];
				for (int c = 0; c < ncols[ir->table]; c++) {
					if (c == ridcol[ir->table])
						sqlite3_bind_int64(st, c + 1, rid);
					else
						sqlite3_bind_value(st, c + 1, ir->vals[c]);
				}
				step_done(st, dst);
			}
		}
		if (i % per_tx == per_tx - 1 || i == nb - 1) {
			step_done(commit, dst);
			commits++;
		}
	}
	double secs = now_s() - t0;
	double cpu = cpu_s() - c0;
	long long w1 = write_bytes();

	printf("BENCH bundles=%zu resources=%zu rows=%zu secs=%.3f rps=%.0f commits=%zu wbytes=%lld cpu_s=%.3f\n",
	       nb, nres, nrows, secs, secs > 0 ? nres / secs : 0.0, commits,
	       w0 >= 0 && w1 >= 0 ? w1 - w0 : -1, cpu);
	sqlite3_finalize(ins_ver);
	sqlite3_finalize(ins_cur);
	for (size_t t = 0; t < NT; t++) {
		sqlite3_finalize(ins_idx[t]);
		sqlite3_finalize(get_idx[t]);
	}
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_finalize(get_cur);
	sqlite3_finalize(get_ver);
	if (sqlite3_close(dst) != SQLITE_OK)
		die("close", dst);
	sqlite3_close(src);
	return 0;
}
