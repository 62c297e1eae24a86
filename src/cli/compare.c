/*
 * compare.c - `bron compare A B`: the report of a migration drill. For each
 * resource type the number of resources and versions in store A and in
 * store B, and every version whose content differs or that one of them
 * lacks (A's looked up in B, then B's in A; the first --show of them named).
 * Exit 0 when they hold the same, 1 when not. A and B are data directories
 * or postgresql:// URLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model.h"
#include "../store/store.h"
#include "cli.h"

typedef struct counts {
	int64_t current, versions;
} counts;

static int open_one(const char *where, const char *key_file, int unencrypted, store **out)
{
	int pg = !strncmp(where, "postgres://", 11) || !strncmp(where, "postgresql://", 13);
	store_options so = {.url = pg ? where : NULL, .dir = pg ? NULL : where, .sync_full = 1};
	crypt_key owner;
	const crypt_key *key;
	if (cli_store_key("compare", key_file, unencrypted, pg ? NULL : where, &owner, &key))
		return -1;
	so.key = key;
	char *err = NULL;
	int orc = store_open(&so, out, &err);
	crypt_key_wipe(&owner);
	if (orc) {
		fprintf(stderr, "bron compare: %s: %s\n", where, err ? err : "cannot open");
		free(err);
		return -1;
	}
	return 0;
}

/* Count the versions of type in s as of upto (and the current resources). */
static int count_type(store *s, const char *type, int64_t upto, counts *c)
{
	for (int history = 0; history < 2; history++) {
		store_snapshot_query q = {.type = type, .upto = upto, .history = history};
		for (;;) {
			arena *a = arena_new(0);
			store_version *v;
			size_t n;
			int more;
			if (store_snapshot(s, a, &q, 1000, &v, &n, &more)) {
				arena_free(a);
				return -1;
			}
			if (history)
				c->versions += (int64_t)n;
			else
				c->current += (int64_t)n;
			if (n)
				q.after = v[n - 1].seq;
			arena_free(a);
			if (!more)
				break;
		}
	}
	return 0;
}

int cli_compare(int argc, char **argv)
{
	const char *wa = NULL, *wb = NULL, *ka = NULL, *kb = NULL;
	int ua = 0, ub = 0, kb_given = 0;
	long show = 20;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: bron compare [--show N] [--key-file FILE | --unencrypted]\n"
			       "                    [--key-file-b FILE | --unencrypted-b] STORE_A "
			       "STORE_B\n\n"
			       "The stores' keys as for bron serve; B takes A's unless given.\n"
			       "Compares two stores (data directories or postgresql:// URLs) after "
			       "a\n"
			       "migration: resources and versions per type, and every version "
			       "whose\n"
			       "content differs or that one store lacks (the first N named, "
			       "default 20).\n"
			       "Exit 0 when they hold the same, 1 when not.\n");
			return 0;
		} else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
			ka = argv[++i];
		} else if (!strcmp(argv[i], "--key-file-b") && i + 1 < argc) {
			kb = argv[++i];
			kb_given = 1;
		} else if (!strcmp(argv[i], "--unencrypted")) {
			ua = 1;
		} else if (!strcmp(argv[i], "--unencrypted-b")) {
			ub = 1;
			kb_given = 1;
		} else if (!strcmp(argv[i], "--show") && i + 1 < argc) {
			if (base_parse_long(argv[++i], 0, 1000000, &show)) {
				fprintf(stderr, "bron compare: bad --show\n");
				return 2;
			}
		} else if (!wa) {
			wa = argv[i];
		} else if (!wb) {
			wb = argv[i];
		} else {
			fprintf(stderr, "bron compare: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!wa || !wb) {
		fprintf(stderr, "usage: bron compare [--show N] STORE_A STORE_B\n");
		return 2;
	}
	if (!kb_given) { /* B as A unless said otherwise */
		kb = ka;
		ub = ua;
	}
	store *a, *b;
	if (open_one(wa, ka, ua, &a))
		return 1;
	if (open_one(wb, kb, ub, &b)) {
		store_close(a);
		return 1;
	}
	int64_t upa, upb;
	if (store_last_seq(a, &upa) || store_last_seq(b, &upb)) {
		fprintf(stderr, "bron compare: cannot read the stores\n");
		store_close(a);
		store_close(b);
		return 1;
	}
	printf("%-28s %12s %12s %12s %12s\n", "type", "A resources", "B resources", "A versions",
	       "B versions");
	int64_t differ = 0, missing = 0, extra = 0, shown = 0;
	counts ta = {0}, tb = {0};
	int failed = 0;
	for (size_t t = 0; t < model_resource_count() && !failed; t++) {
		const char *type = model_type_name(model_resource_at(t));
		counts ca = {0}, cb = {0};
		if (count_type(a, type, upa, &ca) || count_type(b, type, upb, &cb)) {
			failed = 1;
			break;
		}
		if (!ca.versions && !cb.versions)
			continue;
		printf("%-28s %12lld %12lld %12lld %12lld%s\n", type, (long long)ca.current,
		       (long long)cb.current, (long long)ca.versions, (long long)cb.versions,
		       ca.current != cb.current || ca.versions != cb.versions ? "  <- differs"
		                                                              : "");
		ta.current += ca.current;
		tb.current += cb.current;
		ta.versions += ca.versions;
		tb.versions += cb.versions;
		/* every version of A, in B with the same bytes */
		store_snapshot_query q = {.type = type, .upto = upa, .history = 1};
		for (;;) {
			arena *ar = arena_new(0);
			store_version *v;
			size_t n;
			int more;
			if (store_snapshot(a, ar, &q, 1000, &v, &n, &more)) {
				arena_free(ar);
				failed = 1;
				break;
			}
			for (size_t i = 0; i < n; i++) {
				store_version w;
				int rc = store_read(b, ar, v[i].type, v[i].id, v[i].version, &w);
				const char *why = NULL;
				if (rc != STORE_OK)
					why = "missing in B";
				else if (w.deleted != (v[i].deleted != 0))
					why = "deleted in one store only";
				else if (!v[i].deleted &&
				         (w.body_len != v[i].body_len ||
				          memcmp(w.body, v[i].body, v[i].body_len)))
					why = "content differs";
				else if (w.last_updated / 1000 !=
				         v[i].last_updated / 1000) /* as served: ms */
					why = "lastUpdated differs";
				if (!why)
					continue;
				if (rc != STORE_OK)
					missing++;
				else
					differ++;
				if (shown++ < show)
					printf("  %s/%s/_history/%lld: %s\n", v[i].type, v[i].id,
					       (long long)v[i].version, why);
			}
			if (n)
				q.after = v[n - 1].seq;
			arena_free(ar);
			if (!more)
				break;
		}
		/* and every version of B that A lacks (the rest was compared above) */
		store_snapshot_query qb = {.type = type, .upto = upb, .history = 1};
		while (!failed) {
			arena *ar = arena_new(0);
			store_version *v;
			size_t n;
			int more;
			if (store_snapshot(b, ar, &qb, 1000, &v, &n, &more)) {
				arena_free(ar);
				failed = 1;
				break;
			}
			for (size_t i = 0; i < n; i++) {
				store_version w;
				if (store_read(a, ar, v[i].type, v[i].id, v[i].version, &w) ==
				    STORE_OK)
					continue;
				extra++;
				if (shown++ < show)
					printf("  %s/%s/_history/%lld: missing in A\n", v[i].type,
					       v[i].id, (long long)v[i].version);
			}
			if (n)
				qb.after = v[n - 1].seq;
			arena_free(ar);
			if (!more)
				break;
		}
	}
	store_close(a);
	store_close(b);
	if (failed) {
		fprintf(stderr, "bron compare: a store could not be read\n");
		return 1;
	}
	printf("%-28s %12lld %12lld %12lld %12lld\n", "total", (long long)ta.current,
	       (long long)tb.current, (long long)ta.versions, (long long)tb.versions);
	int same = !differ && !missing && !extra && ta.current == tb.current &&
	           ta.versions == tb.versions;
	printf("%s: %lld versions differ, %lld missing in B, %lld missing in A%s\n",
	       same ? "same" : "DIFFERENT", (long long)differ, (long long)missing, (long long)extra,
	       ta.versions != tb.versions ? ", and the version counts differ" : "");
	return same ? 0 : 1;
}
