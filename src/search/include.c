/*
 * include.c - SQL for _include and _revinclude (search.h): given the row ids
 * of the resources on a page, select the resources they reference through
 * a reference parameter (_include) or that reference them (_revinclude),
 * using the sp_reference index rows. Every value is bound.
 */
#include <string.h>

#include "search.h"

typedef struct sqlbuf {
	buf text;
	search_bind *binds;
	size_t n, cap;
	arena *a;
} sqlbuf;

static void bind_add(sqlbuf *s, search_bind b)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		search_bind *nb = arena_alloc(s->a, cap * sizeof *nb);
		if (s->n)
			memcpy(nb, s->binds, s->n * sizeof *nb);
		s->binds = nb;
		s->cap = cap;
	}
	s->binds[s->n++] = b;
}

static void bind_text(sqlbuf *s, const char *t)
{
	buf_putc(&s->text, '?');
	bind_add(s, (search_bind){.kind = SEARCH_BIND_TEXT, .text = t});
}

static void bind_int(sqlbuf *s, int64_t v)
{
	buf_putc(&s->text, '?');
	bind_add(s, (search_bind){.kind = SEARCH_BIND_INT, .i = v});
}

static void rid_list(sqlbuf *s, const int64_t *rids, size_t n)
{
	buf_putc(&s->text, '(');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&s->text, ',');
		bind_int(s, rids[i]);
	}
	buf_putc(&s->text, ')');
}

int search_compile_include(const search_include *inc, const int64_t *rids, size_t n,
                           search_dialect dialect, arena *a, search_sql *out, diag_list *d)
{
	(void)dialect; /* the same SQL runs on both engines */
	if (!n)
		return -1;
	int any_param = !strcmp(inc->param, "*");
	uint32_t pid = 0;
	if (!any_param) {
		if (!strcmp(inc->source_type, "*")) {
			diag_error(d, "not-supported", NULL,
			           "A named parameter needs a source type");
			return -1;
		}
		pid = search_pid(inc->source_type, inc->param);
		if (!pid) {
			diag_error(d, "not-found", NULL, "%s has no search parameter '%s'",
			           inc->source_type, inc->param);
			return -1;
		}
	}
	sqlbuf s = {.a = a};
	buf_init(&s.text, 0);
	buf_puts(&s.text, "r.deleted = 0 AND ");
	if (!inc->reverse) {
		/* the resources the page's resources point at */
		buf_puts(&s.text,
		         "(r.type, r.id) IN (SELECT ttype, tid FROM sp_reference WHERE rid IN ");
		rid_list(&s, rids, n);
		if (!any_param) {
			buf_puts(&s.text, " AND pid = ");
			bind_int(&s, pid);
		}
		buf_putc(&s.text, ')');
		if (inc->target_type) {
			buf_puts(&s.text, " AND r.type = ");
			bind_text(&s, inc->target_type);
		}
	} else {
		/* the resources pointing at the page's resources */
		if (strcmp(inc->source_type, "*")) {
			buf_puts(&s.text, "r.type = ");
			bind_text(&s, inc->source_type);
			buf_puts(&s.text, " AND ");
		}
		buf_puts(&s.text, "r.rid IN (SELECT x.rid FROM sp_reference x WHERE ");
		if (!any_param) {
			buf_puts(&s.text, "x.pid = ");
			bind_int(&s, pid);
			buf_puts(&s.text, " AND ");
		}
		buf_puts(&s.text,
		         "(x.ttype, x.tid) IN (SELECT type, id FROM resource WHERE rid IN ");
		rid_list(&s, rids, n);
		if (inc->target_type) {
			buf_puts(&s.text, " AND type = ");
			bind_text(&s, inc->target_type);
		}
		buf_puts(&s.text, "))");
	}
	out->where = arena_memdup(a, s.text.data, s.text.len);
	out->order_by = "r.rid";
	out->binds = s.binds;
	out->nbinds = s.n;
	buf_free(&s.text);
	return 0;
}
