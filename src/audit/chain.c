/*
 * chain.c - the audit trail's hash chain: signed checkpoints of its head
 * and the walk that verifies it (audit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../auth/auth.h"
#include "../json/json.h"
#include "audit.h"

static void hex(const unsigned char *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
	out[2 * n] = 0;
}

int audit_checkpoint(store *s, const char *key_path, const char *kid, char **out, char **err)
{
	if (out)
		*out = NULL;
	int64_t seq;
	unsigned char hash[32];
	/* the records queued before now (reads', refusals') first, so that the
	 * checkpoint covers them: the head as it stands (at stop: the last one) */
	store_write(s, NULL, 0);
	if (store_audit_head(s, &seq, hash)) {
		*err = strdup("cannot read the audit trail's head");
		return -1;
	}
	if (!seq)
		return 0;
	/* the newest record a checkpoint already: the head has not moved */
	arena *a = arena_new(0);
	store_audit_query q = {.seq = seq, .outcome = -1, .count = 1};
	store_audit *r;
	size_t n;
	int more;
	if (!store_audit_search(s, a, &q, &r, &n, &more) && n) {
		json_error_t je;
		json_t *j = json_loadb(r[0].record, r[0].record_len, 0, &je);
		const char *last = json_string_value(json_object_get(j, "checkpoint"));
		if (last) {
			if (out)
				*out = strdup(last);
			json_decref(j);
			arena_free(a);
			return 0;
		}
		json_decref(j);
	}
	char hx[65], claims[256];
	hex(hash, 32, hx);
	int64_t now = base_now_us() / 1000000;
	snprintf(claims, sizeof claims,
	         "{\"iss\":\"bron\",\"sub\":\"audit-checkpoint\",\"seq\":%lld,\"hash\":\"%s\","
	         "\"iat\":%lld,\"exp\":%lld}",
	         (long long)seq, hx, (long long)now, (long long)(now + 100LL * 366 * 86400));
	char *jws = auth_sign(key_path, kid, claims, err);
	if (!jws) {
		arena_free(a);
		return -1;
	}
	audit_event e = {.recorded = base_now_us(),
	                 .interaction = "checkpoint",
	                 .status = 200,
	                 .agent = "bron",
	                 .basis = "audit-checkpoint",
	                 .checkpoint = jws,
	                 .detail = "signed checkpoint of the audit chain"};
	store_audit rec;
	audit_record(a, &e, &rec);
	int rc = store_audit_append(s, &rec, 1);
	if (out && !rc)
		*out = jws;
	else
		free(jws);
	arena_free(a);
	if (rc) {
		*err = strdup("cannot append the checkpoint");
		return -1;
	}
	return 0;
}

/* The payload of a compact JWS, parsed (no signature check). */
static json_t *jws_payload(const char *jws)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2)
		return NULL;
	size_t n = (size_t)(d2 - d1 - 1);
	char *b = malloc(n + 4);
	if (!b)
		base_oom();
	for (size_t i = 0; i < n; i++)
		b[i] = d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
	while (n % 4)
		b[n++] = '=';
	unsigned char *out = malloc(n);
	if (!out)
		base_oom();
	int len = EVP_DecodeBlock(out, (unsigned char *)b, (int)n);
	free(b);
	json_t *j = NULL;
	if (len > 0) {
		while (len > 0 && out[len - 1] == 0)
			len--; /* EVP_DecodeBlock counts padding as zero bytes */
		json_error_t e;
		j = json_loadb((const char *)out, (size_t)len, 0, &e);
	}
	free(out);
	return j;
}

typedef struct hashes {
	unsigned char (*h)[32]; /* h[seq] */
	size_t n, cap;
} hashes;

static void keep(hashes *hs, int64_t seq, const unsigned char h[32])
{
	if ((size_t)seq >= hs->cap) {
		size_t cap = hs->cap ? hs->cap : 1024;
		while (cap <= (size_t)seq)
			cap *= 2;
		hs->h = realloc(hs->h, cap * 32);
		if (!hs->h)
			base_oom();
		hs->cap = cap;
	}
	memcpy(hs->h[seq], h, 32);
	if ((size_t)seq >= hs->n)
		hs->n = (size_t)seq + 1;
}

static int bad(audit_verify_report *rep, int64_t seq, const char *fmt, const char *arg)
{
	rep->bad_seq = seq;
	snprintf(rep->problem, sizeof rep->problem, fmt, (long long)seq, arg ? arg : "");
	return 1;
}

/* A checkpoint JWS against the chain so far: its signature (with keys) and
 * the hash it signs. 0 if it holds. */
static int check_jws(const char *jws, const auth_keys *keys, const hashes *hs, int64_t at,
                     audit_verify_report *rep, const char *what)
{
	if (keys) {
		arena *a = arena_new(0);
		auth_claims cl;
		const char *why = NULL;
		auth_check chk = {.skew_s = 60};
		int rc = auth_verify(keys, &chk, jws, a, &cl, &why);
		if (rc) {
			char msg[200];
			snprintf(msg, sizeof msg, "%s (%s)", what, why ? why : "bad signature");
			arena_free(a);
			return bad(rep, at, "record %lld: the signature of the %s does not verify",
			           msg);
		}
		arena_free(a);
	}
	json_t *p = jws_payload(jws);
	json_int_t seq = json_integer_value(json_object_get(p, "seq"));
	const char *h = json_string_value(json_object_get(p, "hash"));
	int r = 0;
	if (!p || seq <= 0 || !h || strlen(h) != 64) {
		r = bad(rep, at, "record %lld: the %s is not one Bron signed", what);
	} else if ((size_t)seq >= hs->n) {
		r = bad(rep, (int64_t)seq,
		        "record %lld is missing: the %s signs it, but the chain ends before it",
		        what);
	} else {
		char hx[65];
		hex(hs->h[seq], 32, hx);
		if (strcmp(hx, h))
			r = bad(rep, (int64_t)seq,
			        "record %lld differs from what the %s signed: the log was "
			        "rewritten "
			        "up to there",
			        what);
	}
	json_decref(p);
	if (!r)
		rep->checkpoints++;
	return r;
}

int audit_verify(store *s, const void *keys_, const char *external, audit_verify_report *rep)
{
	const auth_keys *keys = keys_;
	memset(rep, 0, sizeof *rep);
	hashes hs = {0};
	unsigned char prev[32] = {0};
	int64_t expect = 1;
	int result = 0;
	store_audit_query q = {.outcome = -1, .ascending = 1, .count = 1000};
	for (;;) {
		arena *a = arena_new(0);
		store_audit *r;
		size_t n;
		int more;
		if (store_audit_search(s, a, &q, &r, &n, &more)) {
			arena_free(a);
			free(hs.h);
			return -1;
		}
		for (size_t i = 0; i < n && !result; i++) {
			if (r[i].seq != expect) {
				char next[40];
				snprintf(next, sizeof next, "%lld", (long long)r[i].seq);
				result = bad(rep, expect,
				             "record %lld is missing: it was removed, or the "
				             "record that "
				             "follows (%s) was inserted",
				             next);
				break;
			}
			/* a value the hash cannot tell from the one it stands for
			 * (an outcome of 256 hashes as 0, a text stored as a blob
			 * as the text) that searches would not find as that */
			if (r[i].odd || !r[i].action || !strchr("CRUDE", r[i].action) ||
			    (r[i].outcome != 0 && r[i].outcome != 4 && r[i].outcome != 8 &&
			     r[i].outcome != 12)) {
				result = bad(rep, r[i].seq,
				             "record %lld was changed: a column holds a value Bron "
				             "does not write%s",
				             NULL);
				break;
			}
			unsigned char h[32];
			store_audit_hash(prev, &r[i], h);
			if (memcmp(h, r[i].hash, 32)) {
				result = bad(
				        rep, r[i].seq,
				        "record %lld was changed, inserted or moved: its hash does "
				        "not follow from its content and the record before it%s",
				        NULL);
				break;
			}
			keep(&hs, r[i].seq, h);
			memcpy(prev, h, 32);
			rep->records++;
			rep->head_seq = r[i].seq;
			expect = r[i].seq + 1;
			json_error_t e;
			json_t *j = json_loadb(r[i].record, r[i].record_len, 0, &e);
			const char *jws = json_string_value(json_object_get(j, "checkpoint"));
			if (jws) {
				result = check_jws(jws, keys, &hs, r[i].seq, rep, "checkpoint");
				free(rep->last_checkpoint);
				rep->last_checkpoint = strdup(jws);
			}
			json_decref(j);
		}
		if (n)
			q.after = r[n - 1].seq;
		arena_free(a);
		if (result || !more)
			break;
	}
	memcpy(rep->head_hash, prev, 32);
	/* the head the store keeps: records cut off the end show here */
	int64_t hseq;
	unsigned char hh[32];
	if (!result && !store_audit_kept_head(s, &hseq, hh)) {
		if (hseq > rep->head_seq)
			result = bad(rep, rep->head_seq + 1,
			             "record %lld is missing: the trail ends before the head the "
			             "store recorded%s",
			             NULL);
		else if (hseq < rep->head_seq)
			result = bad(rep, hseq + 1,
			             "record %lld was added after the head the store recorded "
			             "(inserted)%s",
			             NULL);
		else if (hseq && memcmp(hh, prev, 32))
			result = bad(rep, hseq,
			             "record %lld does not match the head the store recorded%s",
			             NULL);
	}
	if (!result && external)
		result = check_jws(external, keys, &hs, rep->head_seq, rep, "external checkpoint");
	free(hs.h);
	return result;
}
