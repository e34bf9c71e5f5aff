/* SPDX-License-Identifier: MIT */
/*
 * fuzz_main - a standalone driver for the libFuzzer entry points: replays every
 * file of the directories (or the files) given as arguments, so that gcc
 * builds run each fuzz target over its corpus as a plain test. Not linked
 * when building with clang -fsanitize=fuzzer, which brings its own main().
 */
#include "config.h"

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


static int replay_file(const char *path)
{
	uint8_t *buf = NULL;
	FILE *f = fopen(path, "rb");
	struct stat st;
	int ret = -1;

	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	/* One spare byte so that an empty file still gets a valid pointer. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "%s: cannot read\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)st.st_size);
	ret = 0;
out:
	free(buf);
	if (f)
		fclose(f);
	return ret;
}

/* Replays path (a file, or each regular file of a directory); returns files run or -1. */
static long replay(const char *path)
{
	struct dirent *de;
	struct stat st;
	long n = 0;
	DIR *d;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) < 0 ? -1 : 1;
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char file[4096];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(file, sizeof(file), "%s/%s", path, de->d_name) >= (int)sizeof(file) ||
		    stat(file, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(file) < 0) {
			n = -1;
			break;
		}
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		long n = replay(argv[i]);

		if (n < 0)
			return 1;
		total += n;
	}
	/* An empty corpus would make the test pass without testing anything. */
	if (total == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
