/*
 * schema.c - the DDL of the search index tables (search.h:
 * search_schema_sql) for SQLite and PostgreSQL, with the indexes the SQL of
 * compile.c needs. The store runs it when it opens; the
 * resource table belongs to the store. Static strings, no state.
 *
 * Index use: equality and prefix ranges lead with pid (every condition binds
 * it); (rid, pid) serves deletes and the correlated _sort subqueries (the
 * table's own key on SQLite). PostgreSQL text columns
 * use the "C" collation so that prefix ranges compare bytes as SQLite does.
 * :contains (LIKE '%x%') scans the parameter's rows on both engines; a
 * pg_trgm GIN index on sp_string(norm) would serve it on PostgreSQL later.
 */
#include "search_int.h"

// clang-format off
/* Value indexes both engines need: equality and prefix ranges lead with pid
 * (every condition binds it). */
#define VALUE_INDEXES                                                                              \
	"CREATE INDEX IF NOT EXISTS sp_string_norm ON sp_string(pid, norm, rid);"                  \
	"CREATE INDEX IF NOT EXISTS sp_token_code ON sp_token(pid, code, system, rid);"            \
	"CREATE INDEX IF NOT EXISTS sp_date_lo ON sp_date(pid, lo, hi, rid);"                      \
	"CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number(pid, value);"                     \
	"CREATE INDEX IF NOT EXISTS sp_quantity_code ON sp_quantity(pid, code, value);"            \
	"CREATE INDEX IF NOT EXISTS sp_quantity_ccode ON sp_quantity(pid, ccode, cvalue);"         \
	"CREATE INDEX IF NOT EXISTS sp_reference_target ON sp_reference(pid, tid, ttype, rid);"    \
	"CREATE INDEX IF NOT EXISTS sp_uri_uri ON sp_uri(pid, uri);"                               \
	"CREATE INDEX IF NOT EXISTS sp_compartment_patient ON sp_compartment(patient, rid);"

/* PostgreSQL tables are heaps: (rid, pid) indexes serve deletes and the
 * correlated EXISTS/_sort subqueries. */
#define PG_RID_INDEXES                                                                             \
	"CREATE INDEX IF NOT EXISTS sp_string_rid ON sp_string(rid, pid);"                         \
	"CREATE INDEX IF NOT EXISTS sp_token_rid ON sp_token(rid, pid);"                           \
	"CREATE INDEX IF NOT EXISTS sp_date_rid ON sp_date(rid, pid);"                             \
	"CREATE INDEX IF NOT EXISTS sp_number_rid ON sp_number(rid, pid);"                         \
	"CREATE INDEX IF NOT EXISTS sp_quantity_rid ON sp_quantity(rid, pid);"                     \
	"CREATE INDEX IF NOT EXISTS sp_reference_rid ON sp_reference(rid, pid);"                   \
	"CREATE INDEX IF NOT EXISTS sp_uri_uri_rid ON sp_uri(rid, pid);"                           \
	"CREATE INDEX IF NOT EXISTS sp_text_rid ON sp_text(rid, pid);"                             \
	"CREATE INDEX IF NOT EXISTS sp_compartment_rid ON sp_compartment(rid);"

/* I: integer, R: real, T: text; K(cols): the table's key clause. On SQLite
 * the tables are WITHOUT ROWID and clustered by (rid, pid, ...): a new
 * resource's rows append at the right edge, deletes and the correlated
 * (rid, pid) lookups need no second index, and each row costs one b-tree
 * insert plus its value index instead of three to five. */
#define TABLES(I, R, T, K, W)                                                                      \
	"CREATE TABLE IF NOT EXISTS sp_string(pid " I ", rid " I ", grp " I ", norm " T            \
	", exact " T K("rid, pid, grp, norm, exact") ")" W ";"                                     \
	"CREATE TABLE IF NOT EXISTS sp_token(pid " I ", rid " I ", grp " I ", system " T           \
	", code " T ", text " T K("rid, pid, grp, system, code, text") ")" W ";"                   \
	"CREATE TABLE IF NOT EXISTS sp_date(pid " I ", rid " I ", grp " I ", lo " I ", hi " I      \
	K("rid, pid, grp, lo, hi") ")" W ";"                                                       \
	"CREATE TABLE IF NOT EXISTS sp_number(pid " I ", rid " I ", grp " I ", value " R ", lo " R \
	", hi " R K("rid, pid, grp, value, lo, hi") ")" W ";"                                      \
	"CREATE TABLE IF NOT EXISTS sp_quantity(pid " I ", rid " I ", grp " I ", value " R         \
	", lo " R ", hi " R ", system " T ", code " T ", cvalue " R ", ccode " T                   \
	K("rid, pid, grp, value, lo, hi, system, code") ")" W ";"                                  \
	"CREATE TABLE IF NOT EXISTS sp_reference(pid " I ", rid " I ", grp " I ", ttype " T        \
	", tid " T ", url " T ", isystem " T ", ivalue " T                                         \
	K("rid, pid, grp, ttype, tid, url, isystem, ivalue") ")" W ";"                             \
	"CREATE TABLE IF NOT EXISTS sp_uri(pid " I ", rid " I ", grp " I ", uri " T                \
	K("rid, pid, grp, uri") ")" W ";"                                                          \
	"CREATE TABLE IF NOT EXISTS sp_text(pid " I ", rid " I ", norm " T K("rid, pid") ")" W ";" \
	"CREATE TABLE IF NOT EXISTS sp_compartment(rid " I ", patient " T K("rid, patient") ")" W  \
	";"

#define SQLITE_KEY(cols) ", PRIMARY KEY(" cols ")"
#define NO_KEY(cols)

static const char sqlite_sql[] =
	TABLES("INTEGER NOT NULL", "REAL NOT NULL", "TEXT NOT NULL", SQLITE_KEY, " WITHOUT ROWID")
		VALUE_INDEXES;

static const char postgres_sql[] =
	TABLES("BIGINT NOT NULL", "DOUBLE PRECISION NOT NULL", "TEXT COLLATE \"C\" NOT NULL",
	       NO_KEY, "") VALUE_INDEXES PG_RID_INDEXES;

// clang-format on

const char *search_schema_sql(search_dialect dialect)
{
	return dialect == SEARCH_POSTGRES ? postgres_sql : sqlite_sql;
}
