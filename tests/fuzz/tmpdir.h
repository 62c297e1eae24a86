/*
 * tmpdir.h - a temporary directory for a fuzz target's store, made once and
 * removed (with everything in it) when the process exits normally.
 */
#ifndef BRON_FUZZ_TMPDIR_H
#define BRON_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_tmpdir_path[256];

static int fuzz_tmpdir_unlink(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fuzz_tmpdir_remove(void)
{
	nftw(fuzz_tmpdir_path, fuzz_tmpdir_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory /tmp/bron-fuzz-<name>.XXXXXX. */
static const char *fuzz_tmpdir(const char *name)
{
	snprintf(fuzz_tmpdir_path, sizeof fuzz_tmpdir_path, "/tmp/bron-fuzz-%s.XXXXXX", name);
	if (!mkdtemp(fuzz_tmpdir_path)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(fuzz_tmpdir_remove);
	return fuzz_tmpdir_path;
}

#endif
