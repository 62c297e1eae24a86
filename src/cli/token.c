/*
 * token.c - `bron token --key FILE --sub SUB --scope SCOPES [...]`: prints a
 * signed JWT for development and tests, with the claims Bron reads (sub,
 * scope, patient, organization, purpose_of_use, act.sub) and iss, aud, iat,
 * nbf, exp and a random jti. Signing is auth_sign (src/auth/auth.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "../auth/auth.h"
#include "../base/base.h"
#include "cli.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: bron token --key FILE --sub SUB --scope \"SCOPES\" [--kid KID]\n"
	           "                  [--patient ID] [--org ORG] [--purpose CODE] [--act SUB]\n"
	           "                  [--iss ISS] [--aud AUD] [--ttl SECONDS]\n\n"
	           "Prints a JWT signed with the private key FILE (from bron keygen).\n"
	           "  --key FILE      the PEM private key (EC P-256 -> ES256, RSA -> RS256)\n"
	           "  --kid KID       the key id in the header (default: the kid of this key in\n"
	           "                  jwks.json beside FILE, if there is one)\n"
	           "  --sub SUB       the subject (claim sub)\n"
	           "  --scope SCOPES  space-separated SMART scopes, e.g. \"user/*.cruds\"\n"
	           "  --patient ID    patient context (claim patient)\n"
	           "  --org ORG       the requesting organisation (claim organization), e.g.\n"
	           "                  http://fhir.nl/fhir/NamingSystem/ura|12345678\n"
	           "  --purpose CODE  purpose of use (claim purpose_of_use), e.g. TREAT, ETREAT\n"
	           "  --act SUB       on whose behalf the subject acts (claim act.sub)\n"
	           "  --iss ISS       issuer (default bron)\n"
	           "  --aud AUD       audience (default bron)\n"
	           "  --ttl SECONDS   lifetime (default 3600)\n");
}

typedef struct token_args {
	const char *key, *kid, *sub, *scope, *patient, *org, *purpose, *act, *iss, *aud;
	long ttl;
} token_args;

/* 0, or 2 after a usage message. */
static int parse_args(int argc, char **argv, token_args *t)
{
	static const struct {
		const char *flag;
		size_t offset;
	} opts[] = {
	        {"--key", offsetof(token_args, key)},
	        {"--kid", offsetof(token_args, kid)},
	        {"--sub", offsetof(token_args, sub)},
	        {"--scope", offsetof(token_args, scope)},
	        {"--patient", offsetof(token_args, patient)},
	        {"--org", offsetof(token_args, org)},
	        {"--purpose", offsetof(token_args, purpose)},
	        {"--act", offsetof(token_args, act)},
	        {"--iss", offsetof(token_args, iss)},
	        {"--aud", offsetof(token_args, aud)},
	};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t o;
		for (o = 0; o < sizeof opts / sizeof opts[0]; o++)
			if (!strcmp(a, opts[o].flag))
				break;
		if (o < sizeof opts / sizeof opts[0] && i + 1 < argc) {
			*(const char **)((char *)t + opts[o].offset) = argv[++i];
		} else if (!strcmp(a, "--ttl") && i + 1 < argc) {
			if (base_parse_long(argv[++i], 1, 10L * 366 * 86400, &t->ttl)) {
				fprintf(stderr, "bron token: --ttl must be a number of seconds, "
				                "1 up to ten years\n");
				return 2;
			}
		} else {
			fprintf(stderr, "bron token: unexpected argument '%s'%s\n", a,
			        !strncmp(a, "--", 2) ? " (or it lacks its value)" : "");
			usage(stderr);
			return 2;
		}
	}
	if (!t->key || !t->sub || !t->scope) {
		fprintf(stderr, "bron token: --key, --sub and --scope are required\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* The kid of the key in jwks.json beside the key file, or NULL (malloc'ed). */
static char *default_kid(const char *key_path)
{
	const char *slash = strrchr(key_path, '/');
	size_t dir_len = slash ? (size_t)(slash - key_path) + 1 : 0;
	size_t n = dir_len + sizeof "jwks.json";
	char *jwks = malloc(n), *kid = NULL, *err = NULL;
	struct stat st;
	if (!jwks)
		return NULL;
	snprintf(jwks, n, "%.*sjwks.json", (int)dir_len, key_path);
	if (stat(jwks, &st) == 0) {
		int rc = auth_jwks_kid_for(jwks, key_path, &kid, &err);
		if (rc < 0)
			fprintf(stderr, "bron token: warning: %s; the token has no kid\n", err);
		else if (rc > 0)
			fprintf(stderr,
			        "bron token: warning: no key in %s is this key's; the token has no "
			        "kid\n",
			        jwks);
	}
	free(err);
	free(jwks);
	return kid;
}

/* Set a string member when value is given; -1 when it is not valid UTF-8. */
static int set_string(json_t *o, const char *name, const char *value)
{
	return value ? json_object_set_new(o, name, json_string(value)) : 0;
}

int cli_token(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	token_args t = {.iss = "bron", .aud = "bron", .ttl = 3600};
	int rc = parse_args(argc, argv, &t);
	if (rc)
		return rc;
	char *kid = t.kid ? NULL : default_kid(t.key), *jti = auth_random_id(), *err = NULL;
	json_int_t now = (json_int_t)time(NULL);
	json_t *claims = json_object();
	int bad = set_string(claims, "iss", t.iss) | set_string(claims, "sub", t.sub) |
	          set_string(claims, "aud", t.aud);
	json_object_set_new(claims, "iat", json_integer(now));
	json_object_set_new(claims, "nbf", json_integer(now));
	json_object_set_new(claims, "exp", json_integer(now + t.ttl));
	bad |= set_string(claims, "jti", jti) | set_string(claims, "scope", t.scope) |
	       set_string(claims, "patient", t.patient) |
	       set_string(claims, "organization", t.org) |
	       set_string(claims, "purpose_of_use", t.purpose);
	if (t.act)
		bad |= json_object_set_new(claims, "act", json_pack("{s:s}", "sub", t.act));
	char *text = json_dumps(claims, JSON_COMPACT);
	char *token = NULL;
	rc = 1;
	if (!jti)
		fprintf(stderr, "bron token: no randomness for the jti\n");
	else if (!text || bad)
		fprintf(stderr, "bron token: a value is not valid UTF-8\n");
	else if (!(token = auth_sign(t.key, t.kid ? t.kid : kid, text, &err)))
		fprintf(stderr, "bron token: %s\n", err ? err : "signing failed");
	else {
		printf("%s\n", token);
		rc = 0;
	}
	free(token);
	free(err);
	free(text);
	free(jti);
	free(kid);
	json_decref(claims);
	return rc;
}
