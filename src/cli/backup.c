/*
 * backup.c - `bron backup DIR`, `bron backup --verify DIR`, `bron restore
 * DIR`: a consistent online copy of the embedded store (store_backup; an
 * encrypted store's copy stays encrypted, its key file beside it) with a
 * manifest of SHA-256 checksums; the check of a copy without restoring it
 * (the checksums, and with the key every page); putting a copy back into a
 * data directory no server has open. PostgreSQL is backed up with pg_dump
 * (docs/operations.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../store/store.h"
#include "cli.h"

static const char *const FILES[] = {"bron.db", "bron.db-key"};

static void usage(FILE *f)
{
	fprintf(f, "usage: bron backup [--data DIR] [--key-file FILE | --unencrypted] BACKUP_DIR\n"
	           "       bron backup --verify [--key-file FILE | --unencrypted] BACKUP_DIR\n"
	           "       bron restore [--data DIR] [--force] BACKUP_DIR\n\n"
	           "backup    copies the embedded store while servers keep writing (a\n"
	           "          consistent snapshot) into BACKUP_DIR with manifest.json (SHA-256\n"
	           "          of each file). An encrypted store's copy stays encrypted under the\n"
	           "          same owner's key; its key file is copied with it.\n"
	           "--verify  checks a backup without restoring it: the checksums, and with the\n"
	           "          key (or --unencrypted for a plain one) every page.\n"
	           "restore   puts a checked backup into DIR (default ./data); no bron may have\n"
	           "          DIR open; a store there is replaced only with --force.\n"
	           "PostgreSQL: use pg_dump (docs/operations.md) or bron export --history.\n");
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct bar {
	const char *what;
	int tty;
	int64_t start, last;
} bar;

static void show(void *ctx, int64_t done, int64_t total)
{
	bar *b = ctx;
	int64_t now = mono_ms();
	if (now - b->last < 200 && done < total)
		return;
	b->last = now;
	double s = (double)(now - b->start) / 1000.0, mb = (double)done / 1048576.0;
	int pct = total > 0 ? (int)(100.0 * (double)done / (double)total) : 0;
	if (pct > 100)
		pct = 100;
	char line[48];
	int n = pct / 4;
	memset(line, '#', (size_t)n);
	memset(line + n, '.', (size_t)(25 - n));
	line[25] = 0;
	fprintf(stderr, "%sbron %s: [%s] %3d%% %.1f MB, %.1f MB/s%s", b->tty ? "\r" : "", b->what,
	        line, pct, mb, s > 0 ? mb / s : 0.0, b->tty ? "" : "\n");
}

/* SHA-256 of a file as hex; its size in *size. -1 if unreadable. */
static int file_sha256(const char *path, char hex[65], int64_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		base_oom();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	unsigned char chunk[65536];
	size_t n;
	*size = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		EVP_DigestUpdate(md, chunk, n);
		*size += (int64_t)n;
	}
	int bad = ferror(f);
	fclose(f);
	unsigned char h[32];
	unsigned int len = 32;
	EVP_DigestFinal_ex(md, h, &len);
	EVP_MD_CTX_free(md);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", h[i]);
	return bad ? -1 : 0;
}

static int write_manifest(const char *dir, const char *source, int encrypted)
{
	json_t *m = json_object(), *files = json_array();
	char when[40];
	base_format_instant(base_now_us(), when, sizeof when);
	json_object_set_new(m, "created", json_string(when));
	json_object_set_new(m, "source", json_string(source));
	json_object_set_new(m, "engine", json_string("sqlite"));
	json_object_set_new(m, "encrypted", json_boolean(encrypted));
	for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
		char path[4096], hex[65];
		int64_t size;
		snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
		if (access(path, F_OK))
			continue;
		if (file_sha256(path, hex, &size)) {
			json_decref(m);
			json_decref(files);
			return -1;
		}
		json_array_append_new(files, json_pack("{s:s,s:I,s:s}", "name", FILES[i], "bytes",
		                                       (json_int_t)size, "sha256", hex));
	}
	json_object_set_new(m, "files", files);
	char path[4096];
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	int rc = json_dump_file(m, path, JSON_INDENT(2));
	json_decref(m);
	return rc;
}

/* The checksums of a backup against its manifest: 0, or 1 with a message. */
static int check_manifest(const char *cmd, const char *dir, int *encrypted)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	json_error_t e;
	json_t *m = json_load_file(path, 0, &e);
	if (!m) {
		fprintf(stderr, "bron %s: %s: no readable manifest (%s)\n", cmd, dir, e.text);
		return 1;
	}
	*encrypted = json_is_true(json_object_get(m, "encrypted"));
	int bad = 0;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(m, "files"), i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *want = json_string_value(json_object_get(f, "sha256"));
		json_int_t bytes = json_integer_value(json_object_get(f, "bytes"));
		char hex[65];
		int64_t size;
		if (!name || !want || strchr(name, '/')) {
			fprintf(stderr, "bron %s: the manifest of %s is malformed\n", cmd, dir);
			bad = 1;
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (file_sha256(path, hex, &size)) {
			fprintf(stderr, "bron %s: %s is missing or unreadable\n", cmd, path);
			bad = 1;
		} else if (size != bytes || strcmp(hex, want)) {
			fprintf(stderr,
			        "bron %s: %s does not match its checksum: changed since the "
			        "backup\n",
			        cmd, path);
			bad = 1;
		}
	}
	if (!json_array_size(json_object_get(m, "files"))) {
		fprintf(stderr, "bron %s: the manifest of %s lists no files\n", cmd, dir);
		bad = 1;
	}
	/* every file of a backup that is there is listed (restore copies them all),
	 * and the database always */
	for (size_t k = 0; k < sizeof FILES / sizeof *FILES; k++) {
		int listed = 0;
		json_array_foreach(json_object_get(m, "files"), i, f)
		{
			const char *name = json_string_value(json_object_get(f, "name"));
			listed |= name && !strcmp(name, FILES[k]);
		}
		snprintf(path, sizeof path, "%s/%s", dir, FILES[k]);
		if (!listed && (k == 0 || !access(path, F_OK))) {
			fprintf(stderr, "bron %s: the manifest of %s does not list %s\n", cmd, dir,
			        FILES[k]);
			bad = 1;
		}
	}
	json_decref(m);
	return bad;
}

static int copy_file(const char *from, const char *to, bar *b, int64_t *done, int64_t total)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	char chunk[1 << 16];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, chunk, sizeof chunk)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, chunk + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rc = -1;
				break;
			}
			off += w;
		}
		if (rc)
			break;
		*done += n;
		show(b, *done, total);
	}
	if (n < 0)
		rc = -1;
	if (!rc)
		rc = fsync(out);
	close(in);
	close(out);
	return rc;
}

static int key_args(int argc, char **argv, int *i, const char **key_file, int *unencrypted)
{
	if (!strcmp(argv[*i], "--key-file") && *i + 1 < argc) {
		*key_file = argv[++*i];
		return 1;
	}
	if (!strcmp(argv[*i], "--unencrypted")) {
		*unencrypted = 1;
		return 1;
	}
	return 0;
}

int cli_backup(int argc, char **argv)
{
	const char *data = "./data", *dir = NULL, *key_file = NULL;
	int verify = 0, unencrypted = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--verify")) {
			verify = 1;
		} else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			data = argv[++i];
		} else if (!strcmp(argv[i], "--store")) {
			fprintf(stderr,
			        "bron backup: for PostgreSQL use pg_dump (docs/operations.md) "
			        "or bron export --history\n");
			return 2;
		} else if (key_args(argc, argv, &i, &key_file, &unencrypted)) {
			;
		} else if (!dir && argv[i][0] != '-') {
			dir = argv[i];
		} else {
			fprintf(stderr, "bron backup: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!dir) {
		usage(stderr);
		return 2;
	}
	if (verify) {
		int encrypted = 0;
		if (check_manifest("backup", dir, &encrypted)) {
			printf("FAILED: %s does not match its manifest\n", dir);
			return 1;
		}
		crypt_key owner;
		const crypt_key *key = NULL;
		int have_key =
		        key_file || unencrypted || getenv("BRON_KEY_FILE") || getenv("BRON_KEY");
		if (encrypted && unencrypted) {
			fprintf(stderr,
			        "bron backup: %s is encrypted: give its key (--key-file FILE, or "
			        "BRON_KEY_FILE or BRON_KEY in the environment)\n",
			        dir);
			return 2;
		}
		if (have_key) {
			/* a plain copy's pages are read as they are, whatever key the
			 * environment holds */
			int krc = encrypted ? cli_store_key("backup", key_file, unencrypted, NULL,
			                                    &owner, &key)
			                    : cli_store_key("backup", NULL, 1, NULL, &owner, &key);
			if (krc)
				return krc;
			char *err = NULL;
			int rc = store_backup_check(dir, key, &err);
			crypt_key_wipe(&owner);
			if (rc) {
				printf("FAILED: %s: %s\n", dir,
				       err ? err : "the copy does not check");
				free(err);
				return 1;
			}
			printf("ok: %s matches its manifest, and every page checks%s\n", dir,
			       encrypted ? " (opened with the owner's key)" : "");
		} else {
			printf("ok: %s matches its manifest (pages not checked: give "
			       "--key-file%s)\n",
			       dir, encrypted ? "" : " or --unencrypted");
		}
		return 0;
	}
	crypt_key owner;
	const crypt_key *key;
	int krc = cli_store_key("backup", key_file, unencrypted, data, &owner, &key);
	if (krc)
		return krc;
	store_options so = {.dir = data, .key = key};
	bar b = {.what = "backup", .tty = isatty(2), .start = mono_ms()};
	char *err = NULL;
	int rc = store_backup(&so, dir, show, &b, &err);
	crypt_key_wipe(&owner);
	if (b.tty)
		fprintf(stderr, "\n");
	if (rc) {
		fprintf(stderr, "bron backup: %s\n", err ? err : "failed");
		free(err);
		return 1;
	}
	if (write_manifest(dir, data, key != NULL)) {
		fprintf(stderr, "bron backup: cannot write %s/manifest.json\n", dir);
		return 1;
	}
	struct stat st;
	char db[4096];
	snprintf(db, sizeof db, "%s/bron.db", dir);
	double secs = (double)(mono_ms() - b.start) / 1000.0;
	int64_t bytes = !stat(db, &st) ? st.st_size : 0;
	fprintf(stderr, "bron backup: %s -> %s: %.1f MB in %.1f s%s, manifest.json written\n", data,
	        dir, (double)bytes / 1048576.0, secs, key ? ", encrypted" : "");
	return 0;
}

int cli_restore(int argc, char **argv)
{
	const char *data = "./data", *dir = NULL;
	int force = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
			data = argv[++i];
		} else if (!strcmp(argv[i], "--force")) {
			force = 1;
		} else if (!dir && argv[i][0] != '-') {
			dir = argv[i];
		} else {
			fprintf(stderr, "bron restore: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!dir) {
		usage(stderr);
		return 2;
	}
	int encrypted = 0;
	if (check_manifest("restore", dir, &encrypted)) {
		fprintf(stderr, "bron restore: %s does not match its manifest; nothing restored\n",
		        dir);
		return 1;
	}
	if (mkdir(data, 0700) && errno != EEXIST) {
		fprintf(stderr, "bron restore: cannot create %s: %s\n", data, strerror(errno));
		return 1;
	}
	/* no bron may have the store open (each holds a shared lock on DIR) */
	int lock = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB)) {
		fprintf(stderr,
		        "bron restore: %s is in use (a bron serve, import or reindex has it "
		        "open): stop it first\n",
		        data);
		if (lock >= 0)
			close(lock);
		return 1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/bron.db", data);
	if (!access(path, F_OK) && !force) {
		fprintf(stderr, "bron restore: %s holds a store; give --force to replace it\n",
		        data);
		close(lock);
		return 1;
	}
	/* the old store goes entirely: its WAL must not be replayed onto the copy */
	const char *old[] = {"bron.db", "bron.db-wal", "bron.db-shm", "bron.db-key",
	                     "bron.db-journal"};
	for (size_t i = 0; i < sizeof old / sizeof *old; i++) {
		snprintf(path, sizeof path, "%s/%s", data, old[i]);
		unlink(path);
	}
	int64_t total = 0, done = 0;
	struct stat st;
	for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
		if (!stat(path, &st))
			total += st.st_size;
	}
	bar b = {.what = "restore", .tty = isatty(2), .start = mono_ms()};
	int rc = 0;
	for (size_t i = 0; i < sizeof FILES / sizeof *FILES && !rc; i++) {
		char from[4096], to[4096];
		snprintf(from, sizeof from, "%s/%s", dir, FILES[i]);
		snprintf(to, sizeof to, "%s/%s.restore", data, FILES[i]);
		if (access(from, F_OK))
			continue;
		rc = copy_file(from, to, &b, &done, total);
	}
	/* the key file first, then the database: never a database without its key */
	for (int i = (int)(sizeof FILES / sizeof *FILES) - 1; i >= 0 && !rc; i--) {
		char from[4096], to[4096];
		snprintf(from, sizeof from, "%s/%s.restore", data, FILES[i]);
		snprintf(to, sizeof to, "%s/%s", data, FILES[i]);
		if (!access(from, F_OK) && rename(from, to))
			rc = -1;
	}
	int dfd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	close(lock);
	if (b.tty)
		fprintf(stderr, "\n");
	if (rc) {
		fprintf(stderr, "bron restore: copying into %s failed: %s\n", data,
		        strerror(errno));
		return 1;
	}
	fprintf(stderr, "bron restore: %s -> %s: %.1f MB in %.1f s%s\n", dir, data,
	        (double)total / 1048576.0, (double)(mono_ms() - b.start) / 1000.0,
	        encrypted ? " (encrypted: serve it with the same owner's key)" : "");
	return 0;
}
