/*
 * search_int.h - private to src/search/: what its files share and do not
 * export through search.h. One section per file family; each section is
 * owned by the engineer of those files (edit only your own, re-read first).
 */
#ifndef BRON_SEARCH_INT_H
#define BRON_SEARCH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "search.h"

/* ==== parse.c / compile.c: the parsed query ==================================
 *
 * search_parse() turns URL parameters into a search_query: a list of
 * conditions (AND), each holding one or more values (OR). search_compile()
 * turns that into SQL over `resource r` and the sp_* tables. Everything is
 * arena-owned and immutable once parsed.
 *
 * What compile.c expects of the index rows (conventions index.c follows):
 *  - string: norm = search_normalize(value); exact = the value as written.
 *  - token: system/code as written ('' when absent); text = search_normalize()
 *    of Coding.display / CodeableConcept.text / Identifier.type.text, so that
 *    :text is a normalised prefix match like a string parameter.
 *  - token :of-type (Identifier): one extra sp_token row per
 *    Identifier.type.coding, pid = search_component_pid(pid, SEARCH_OF_TYPE_COMPONENT),
 *    system = type.coding.system, code = type.coding.code, text = Identifier.value
 *    (exact, not normalised).
 *  - number/quantity: `value` is the stored value itself (compile compares
 *    `value`, never lo/hi); quantity cvalue/ccode: the value in UCUM canonical
 *    units and the canonical unit, or 0/'' when not UCUM-convertible.
 *  - date: [lo, hi] inclusive microseconds of the value at its precision;
 *    a Period without start/end uses INT64_MIN/INT64_MAX for the open side.
 *  - reference: relative or resolvable "Type/id" -> ttype, tid (no _history);
 *    absolute references also keep the whole reference in url (canonicals
 *    without their |version); isystem/ivalue from Reference.identifier.
 *  - composite: each component row has pid = search_component_pid(pid, i)
 *    and the same grp > 0 for components extracted from the same element.
 *  - _text / _content (full text): one sp_string row per resource with pid =
 *    search_pid(type, "_text") (norm = normalised narrative text without
 *    tags) and one with pid = search_pid(type, "_content") (norm = the
 *    normalised string values of the resource, space-separated). _text=a b
 *    matches when every word occurs in norm (LIKE '%word%').
 *  _id and _lastUpdated are compiled against r.id and r.last_updated, so
 *  they need no index rows.
 */

/* Component number reserved for the :of-type rows of Identifier tokens. */
#define SEARCH_OF_TYPE_COMPONENT 0xffu

typedef enum search__prefix {
	SEARCH__EQ,
	SEARCH__NE,
	SEARCH__GT,
	SEARCH__LT,
	SEARCH__GE,
	SEARCH__LE,
	SEARCH__SA,
	SEARCH__EB,
	SEARCH__AP
} search__prefix;

typedef enum search__modifier {
	SEARCH__MOD_NONE,
	SEARCH__MOD_MISSING,
	SEARCH__MOD_EXACT,
	SEARCH__MOD_CONTAINS,
	SEARCH__MOD_TEXT,
	SEARCH__MOD_NOT,
	SEARCH__MOD_OF_TYPE,
	SEARCH__MOD_IN,
	SEARCH__MOD_NOT_IN,
	SEARCH__MOD_BELOW,
	SEARCH__MOD_ABOVE,
	SEARCH__MOD_TYPE,      /* reference:[Type] */
	SEARCH__MOD_IDENTIFIER /* reference:identifier */
} search__modifier;

/* One value of a parameter (the alternatives of an OR). Which fields are
 * used depends on the parameter's type. */
typedef struct search__value {
	search__prefix prefix;
	const char *s[3];        /* string: norm, exact, - | token: system, code, value (of-type) |
	                          * reference: ttype, tid, url | uri: uri | quantity: system, code, - |
	                          * :text/:contains: normalised text in s[0] */
	int has_system;          /* token/quantity: a '|' was given (system may be '') */
	double num;              /* number/quantity: the value */
	double num_lo, num_hi;   /* its implicit precision range [lo, hi) */
	int64_t lo, hi;          /* date: the range of the value, inclusive microseconds */
	int missing;             /* :missing=true (1) or false (0) */
	const char *const *uris; /* uri:above: the candidate parents, NULL-terminated */
	struct search__value *comps; /* composite: one value per component */
	size_t ncomps;
} search__value;

typedef enum search__cond_kind {
	SEARCH__COND_PARAM,        /* an indexed parameter over sp_<type> */
	SEARCH__COND_ID,           /* _id: r.id */
	SEARCH__COND_LAST_UPDATED, /* _lastUpdated: r.last_updated */
	SEARCH__COND_CHAIN,        /* reference parameter whose targets match alts */
	SEARCH__COND_HAS,          /* _has: resources of has_type referring here match inner */
	SEARCH__COND_COMPARTMENT,  /* member of the Patient compartment of values[0].s[0] */
	SEARCH__COND_TYPES,        /* one alternative per resource type (system level) */
	SEARCH__COND_LIST          /* _list: referenced from List/<id>.entry.item */
} search__cond_kind;

typedef struct search__cond search__cond;

/* A condition that depends on the resource type of the row it tests. */
typedef struct search__alt {
	const char *type;
	search__cond *cond; /* NULL: the type alone matches */
} search__alt;

struct search__cond {
	search__cond_kind kind;
	const char *code;     /* the parameter's code, for messages */
	model_sp_type type;   /* PARAM: its search-parameter type */
	uint32_t pid;         /* PARAM/CHAIN: its pid; HAS: the referring parameter's pid */
	const uint32_t *pids; /* PARAM across all types (system level): every type's pid */
	size_t npids;         /* 0: use pid */
	search__modifier mod;
	const char *mod_type;  /* reference:[Type], chain target type */
	search__value *values; /* OR'd */
	size_t nvalues;
	/* composite components */
	uint32_t comp_pid[4];
	model_sp_type comp_type[4];
	size_t ncomps;
	/* CHAIN (one alternative per target type) and TYPES */
	search__alt *alts;
	size_t nalts;
	/* HAS */
	const char *has_type;
	search__cond *inner;
	int rank; /* selectivity class: lower runs first */
};

typedef struct search__sort {
	const char *code;
	int desc;
	int kind; /* 0 indexed param, 1 _id, 2 _lastUpdated */
	model_sp_type type;
	uint32_t *pids; /* the parameter's pid in each searched type (_type: several) */
	size_t npids;
} search__sort;

struct search_query {
	const char *type; /* NULL: system level */
	search__cond *conds;
	size_t nconds, cap;
	search__sort *sorts;
	size_t nsorts;
	size_t count;
	search_total total;
	search_summary summary;
	const char **elements;
	search_include *includes;
	size_t nincludes;
	const char **types;
	const char *canonical;
	int contained; /* 0 false, 1 true, 2 both */
	arena *a;
};

/* parse.c: the date range of a FHIR date/dateTime/instant search value at its
 * precision (inclusive microseconds); 0 on success. */
int search__date_range(const char *s, int64_t *lo, int64_t *hi);

/* ==== end of parse.c / compile.c section ==================================== */

/* ==== index*.c / pid.c / normalize.c / ucum.c: the parameter table ========
 *
 * search_init() (pid.c) compiles, per resource type, each parameter's
 * expression cut to the `|` branches that can apply to that type, and the
 * component expressions of composites; the table is immutable afterwards.
 *
 * pid = (index of the type in model_resource_at) * 256 + (position of the
 * code in model_search_params_for(type)) + 1; search_component_pid(pid, k) =
 * pid + (k + 1) * 65536 (k 0-based; SEARCH_OF_TYPE_COMPONENT fits).
 *
 * Index-row details beyond the conventions above (index.c follows those):
 *  - string: HumanName gives a row per family, given, prefix, suffix, text;
 *    Address per line, city, district, state, postalCode, country, text.
 *  - token: CodeableConcept.text is a row ('', '', norm(text)); Coding
 *    text = norm(display); Identifier (system, value, norm(type.text));
 *    ContactPoint ('', value, ''); boolean ('', "true"/"false", ''); other
 *    primitives ('', value, '') - a bound code's implicit system is not known.
 *  - date: Timing is one row over its outer limits (events, boundsPeriod).
 *  - number/quantity: lo/hi = value -/+ half a unit of the last digit of the
 *    shortest text reading back to the parsed double (jansson drops the
 *    trailing zeros of "1.50"); quantity code = code, else unit; comparator
 *    "<"/"<=" sets lo = -DBL_MAX, ">"/">=" hi = DBL_MAX. Money: system
 *    SEARCH_ISO4217, code = currency.
 *  - reference: "#id" -> ttype of the contained resource, tid "#id", url '';
 *    absolute -> url as written plus ttype/tid from its last two segments
 *    when they look like Type/id; urn:uuid/urn:oid -> url only; a versioned
 *    canonical also gets a row with url "url|version"; Reference.type fills
 *    an empty ttype.
 *  - compartment: tids of the compartment parameters' reference rows with
 *    ttype "Patient" and url '' (plus the own id of a Patient).
 *  - Location.near (special): per Location.position two number rows,
 *    latitude with pid search_component_pid(pid, 0) and longitude with
 *    search_component_pid(pid, 1), same grp (1), value = lo = hi = degrees.
 *  - no rows: _id, _lastUpdated (r.id / r.last_updated), _query.
 */

#define SEARCH_UCUM    "http://unitsofmeasure.org"
#define SEARCH_ISO4217 "urn:iso:std:iso:4217"
/* The string item that ends each composite item's component results. */
#define SEARCH__GROUP_MARK "bron:group-end"

struct fp_expr;
struct fp_item;

/* One search parameter as it applies to one resource type. */
typedef struct search__param {
	const model_search_param *sp;       /* the model's definition */
	uint32_t pid;                       /* search_pid(type, sp->code) */
	char *cut;                          /* the expression cut to this type's branches */
	struct fp_expr *expr;               /* cut compiled (on the type's first use); NULL: none */
	const model_search_param **comp_sp; /* composite: component definitions */
	struct fp_expr **comp_expr;         /* composite: component k over all items, each
	                                     * item's results followed by SEARCH__GROUP_MARK */
	int in_compartment;                 /* puts the type in the Patient compartment */
	int shared;                         /* same kind and expression as an earlier parameter:
	                                     * uses its pid and rows (expr is NULL) */
} search__param;

typedef struct search__type {
	const char *name;      /* resource type */
	uint32_t index;        /* position in model_resource_at */
	search__param *params; /* in model_search_params_for order */
	size_t count;
	int compiled; /* expressions compiled (on first use; guarded in pid.c) */
} search__type;

/* The table entry of a resource type, its expressions compiled (on first
 * use: most stores hold a few of the 146 types), or NULL. */
const search__type *search__type_get(const char *resource_type);

/* `value` in UCUM unit `code` in canonical units: *ccode is the canonical
 * unit (base units m, s, g, rad, K, C, cd, mol, [IU] joined by '.', each
 * with its exponent when not 1, e.g. "m-3.g"; "1" when dimensionless),
 * arena-owned. Cel and [degF] become K (affine, only on their own). 0 on
 * success, -1 when the unit is not understood. */
int search__ucum_canonical(arena *a, const char *code, double value, double *cvalue,
                           const char **ccode);

/* index_value.c: the range a FHIR date/dateTime/instant covers at its
 * precision, inclusive microseconds (same rules as search__date_range);
 * 0 on success, -1 when s is not such a value. */
int search__index_date(const char *s, int64_t *lo, int64_t *hi);
/* The value of a decimal written as text and its implicit range at the
 * written precision ("1.5" -> [1.45, 1.55)); 0 on success. */
int search__index_number(const char *s, double *value, double *lo, double *hi);
/* The text of a JSON number (the shortest that reads back to a real) in out,
 * or NULL when v is not a number. */
const char *search__index_number_text(const json_t *v, char *out, size_t outlen);

/* The state of one search_index() call, shared by index*.c. */
typedef struct search__index_ctx {
	arena *a;       /* the caller's: rows and their strings */
	arena *scratch; /* evaluations; reset after each parameter */
	const json_t *resource;
	const char *type, *id;
	search_rows *out;
	diag_list *d;      /* warnings, may be NULL */
	uint32_t pid, grp; /* of the rows being added */
	const char *base;  /* this server's base URL: references under it are local */
	size_t base_len;
} search__index_ctx;

/* A new row of `kind` with c->pid/grp, strings "" (index.c). */
search_row *search__row_add(search__index_ctx *c, search_row_kind kind);
/* s copied into c->a; "" for NULL or "". */
const char *search__str(search__index_ctx *c, const char *s);
/* The rows of one result item for a parameter of `type` (index.c). */
void search__index_item(search__index_ctx *c, model_sp_type type, const struct fp_item *it);
/* Reference rows of one item (index_reference.c). */
void search__index_reference(search__index_ctx *c, const struct fp_item *it);
/* The _text / _content rows, if p is one of those (index_text.c). */
void search__index_text(search__index_ctx *c, const search__param *p);

/* ==== end of index*.c section ============================================== */

#endif
