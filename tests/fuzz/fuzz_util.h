/*
 * Helpers shared by the fuzz targets (libFuzzer, tests/fuzz/fuzz_*.c).
 *
 * Each target implements fuzz_one(); this file's LLVMFuzzerTestOneInput calls it. An
 * invariant that does not hold aborts through fuzz_fail: libFuzzer reports it as a crash and
 * keeps the input as crash-<sha1> in the artifact directory, like a sanitizer report.
 *
 * With SALVE_FUZZ_CONTINUE=DIR in the environment (bench/fuzz/run.sh sets it), a broken
 * invariant instead saves the input as DIR/invariant-<target>-L<line>-<n>, prints the first
 * report of each check, and abandons the input (longjmp: its allocations leak, so run with
 * -detect_leaks=0), so a long run gets past a known bug to find the next one. Sanitizer
 * reports still end the process.
 * Not thread-safe (libFuzzer runs one input at a time).
 */
#ifndef SALVE_FUZZ_UTIL_H
#define SALVE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The target: runs one input, returns 0. */
int fuzz_one(const uint8_t *data, size_t size);

/* Prints "invariant broken: ..." (the check's line in file) to stderr, then aborts. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
	} while (0)

/* The input as a malloc'd NUL-terminated string (it may hold earlier NULs). Caller frees. */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Writes data to a fresh file in a private temporary directory made once per process and
 * returns its path (valid until the next call with the same slot). slot picks one of a few
 * file names so a target can keep two files side by side (a log and its .head). */
const char *fuzz_write_file(const char *name, const void *data, size_t size);
/* Removes a file written by fuzz_write_file (a missing one is fine). */
void fuzz_remove_file(const char *name);

/* Splits the input at the first "\n" into a first line and the rest (either may be empty);
 * both are malloc'd NUL-terminated strings the caller frees. */
void fuzz_split_line(const uint8_t *data, size_t size, char **first, char **rest, size_t *rest_len);

#endif
