/*
 * index_text.c - the full-text rows of search_index() (search_int.h):
 * _text gets one string row whose norm is the narrative (text.div) without
 * its markup, _content one whose norm is every string value of the resource
 * (the narrative as text) except those the server sets (the resource's id,
 * meta.versionId and meta.lastUpdated), meta's first as in the stored form,
 * both search_normalize()d and with exact ''. The
 * R4 parameters have no expression; what they cover is ours to define. Text
 * past MAX_TEXT bytes is not indexed.
 */
#include <stdlib.h>
#include <string.h>

#include "search_int.h"

#define MAX_TEXT (256 * 1024)

static void put_utf8(buf *b, unsigned long cp)
{
	char u[4];

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		buf_putc(b, ' ');
	} else if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, u, 4);
	}
}

/* Append the character data of XHTML `s`: tags become spaces, the common
 * entities their characters. */
static void put_xhtml_text(buf *b, const char *s)
{
	static const struct {
		const char *name;
		const char *text;
	} entities[] = {{"amp;", "&"},   {"lt;", "<"},   {"gt;", ">"},
	                {"quot;", "\""}, {"apos;", "'"}, {"nbsp;", " "}};

	while (*s) {
		if (*s == '<') {
			const char *e = strchr(s, '>');
			buf_putc(b, ' ');
			if (e == NULL)
				return;
			s = e + 1;
			continue;
		}
		if (*s == '&') {
			size_t i, n = sizeof entities / sizeof entities[0];
			for (i = 0; i < n; i++)
				if (strncmp(s + 1, entities[i].name, strlen(entities[i].name)) == 0)
					break;
			if (i < n) {
				buf_puts(b, entities[i].text);
				s += 1 + strlen(entities[i].name);
				continue;
			}
			if (s[1] == '#') { /* &#252; &#xFC; */
				char *e;
				int hex = s[2] == 'x' || s[2] == 'X';
				unsigned long cp = strtoul(s + 2 + hex, &e, hex ? 16 : 10);
				if (*e == ';' && e > s + 2 + hex && e - s < 12) {
					put_utf8(b, cp);
					s = e + 1;
					continue;
				}
			}
		}
		buf_putc(b, *s++);
	}
}

/* Every string value under v, space-separated; XHTML divs as their text. */
static void put_strings(buf *b, const json_t *v, const char *key, int depth)
{
	if (depth > 64 || b->len > MAX_TEXT)
		return;
	if (json_is_string(v)) {
		if (b->len)
			buf_putc(b, ' ');
		if (key && strcmp(key, "div") == 0)
			put_xhtml_text(b, json_string_value(v));
		else
			buf_puts(b, json_string_value(v));
	} else if (json_is_object(v)) {
		const char *k;
		const json_t *m;
		/* The write path indexes the body as sent, bron reindex and bron
		 * check the stored one, which carries the server's id and meta first
		 * (json_canonical): both must give the same row, so the id,
		 * meta.versionId and meta.lastUpdated are left out and the rest of
		 * meta comes first, wherever the client put it. */
		const json_t *meta = depth == 0 ? json_object_get(v, "meta") : NULL;
		if (meta)
			put_strings(b, meta, "meta", depth + 1);
		json_object_foreach((json_t *)v, k, m)
		{
			if (strcmp(k, "resourceType") == 0)
				continue;
			if (depth == 0 && (strcmp(k, "id") == 0 || strcmp(k, "meta") == 0))
				continue;
			if (depth == 1 && key && strcmp(key, "meta") == 0 &&
			    (strcmp(k, "versionId") == 0 || strcmp(k, "lastUpdated") == 0))
				continue;
			put_strings(b, m, k, depth + 1);
		}
	} else if (json_is_array(v)) {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
		{
			put_strings(b, e, key, depth + 1);
		}
	}
}

void search__index_text(search__index_ctx *c, const search__param *p)
{
	int text = strcmp(p->sp->code, "_text") == 0;
	buf b;

	if (!text && strcmp(p->sp->code, "_content") != 0)
		return;
	buf_init(&b, MAX_TEXT + 64 * 1024);
	if (text) {
		const char *div = json_string_value(
		        json_object_get(json_object_get(c->resource, "text"), "div"));
		if (div)
			put_xhtml_text(&b, div);
	} else {
		put_strings(&b, c->resource, NULL, 0);
	}
	if (b.len) {
		if (b.len > MAX_TEXT)
			b.data[MAX_TEXT] =
			        '\0'; /* may cut a UTF-8 sequence; normalising drops it */
		const char *norm = search_normalize(c->a, b.data);
		if (*norm) {
			c->pid = p->pid;
			c->grp = 0;
			search_row *r = search__row_add(c, SEARCH_ROW_TEXT);
			r->s[0] = norm;
		}
	}
	buf_free(&b);
}
