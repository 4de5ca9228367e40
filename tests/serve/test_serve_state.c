/* salve serve's state files: private directories, no symlinks followed, sealed spool entries.
 * Each attack of issue F4 is replayed on real files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/salve-state-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void expect_error(int rc, const char *err, const char *words)
{
	assert_int_equal(rc, -1);
	if (!strstr(err, words))
		fail_msg("\"%s\" does not say \"%s\"", err, words);
}

static void test_private_dirs(void **state)
{
	(void)state;
	char state_dir[300], serve[4096], err[1024];
	path_of(state_dir, sizeof state_dir, "state");
	/* A fresh state dir is created private and accepted. */
	assert_int_equal(srv_state_paths(state_dir, serve, sizeof serve, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(serve, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* The F4 attack: a 0777 state dir lets anyone rewrite the spool. */
	assert_int_equal(chmod(state_dir, 0777), 0);
	expect_error(srv_state_paths(state_dir, serve, sizeof serve, err, sizeof err), err,
	             "mode 0777 lets everyone write it");
	assert_non_null(strstr(err, state_dir));
	assert_int_equal(chmod(state_dir, 0770), 0);
	expect_error(srv_state_check_private_dir("audit dir", state_dir, err, sizeof err), err,
	             "audit dir");
	assert_non_null(strstr(err, "lets its group write it"));
	assert_int_equal(chmod(state_dir, 0750), 0);
	assert_int_equal(srv_state_check_private_dir("audit dir", state_dir, err, sizeof err), 0);
	/* A subdir of ours that is writable by others, or a symlink, is refused too. */
	char queue[4200];
	snprintf(queue, sizeof queue, "%s/queue", serve);
	assert_int_equal(chmod(queue, 0733), 0);
	expect_error(srv_state_paths(state_dir, serve, sizeof serve, err, sizeof err), err,
	             "queue: mode 0733");
	assert_int_equal(chmod(queue, 0700), 0);
	char elsewhere[300], circuits[4200];
	path_of(elsewhere, sizeof elsewhere, "elsewhere");
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	snprintf(circuits, sizeof circuits, "%s/circuits", serve);
	assert_int_equal(rmdir(circuits), 0);
	assert_int_equal(symlink(elsewhere, circuits), 0);
	expect_error(srv_state_paths(state_dir, serve, sizeof serve, err, sizeof err), err,
	             "not a directory (a symlink)");
	char missing[300];
	path_of(missing, sizeof missing, "nope");
	expect_error(srv_state_check_private_dir("audit dir", missing, err, sizeof err), err,
	             "No such file");
}

static void test_state_files(void **state)
{
	(void)state;
	char good[300], link[300], victim[300], loose[300], fifo[300], err[1024];
	path_of(good, sizeof good, "good.open");
	path_of(link, sizeof link, "link.open");
	path_of(victim, sizeof victim, "victim");
	path_of(loose, sizeof loose, "loose.open");
	path_of(fifo, sizeof fifo, "fifo.open");
	write_text(good, "{\"reason\": \"x\"}", 0600);
	write_text(victim, "precious\n", 0600);
	write_text(loose, "{}", 0666);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	char missing[300];
	path_of(missing, sizeof missing, "missing.open");
	assert_int_equal(srv_state_file_present(good, err, sizeof err), 1);
	assert_int_equal(srv_state_file_present(missing, err, sizeof err), 0);
	assert_int_equal(srv_state_file_present(link, err, sizeof err), -1);
	assert_non_null(strstr(err, "a symlink (state files are never followed)"));
	assert_int_equal(srv_state_file_present(loose, err, sizeof err), -1);
	assert_non_null(strstr(err, "mode 0666"));
	assert_int_equal(srv_state_file_present(fifo, err, sizeof err), -1);
	assert_non_null(strstr(err, "not a regular file"));
	size_t n;
	char *text = srv_state_read_file(good, 4096, &n, err, sizeof err);
	assert_non_null(text);
	assert_string_equal(text, "{\"reason\": \"x\"}");
	assert_int_equal(n, 15);
	free(text);
	assert_null(srv_state_read_file(link, 4096, &n, err, sizeof err));
	assert_null(srv_state_read_file(good, 8, &n, err, sizeof err));
	assert_non_null(strstr(err, "larger than 8 bytes"));

	/* A temporary name planted as a symlink is never written through. */
	char target[300], tmp[400];
	path_of(target, sizeof target, "paused");
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(srv_state_write_pause(target, 1, "alice", "freeze", err, sizeof err), 0);
	assert_string_equal(slurp(victim), "precious\n");
	assert_non_null(strstr(slurp(target), "\"by\":\"alice\""));
	assert_int_equal(srv_state_file_present(target, err, sizeof err), 1);
	/* Replacing a symlinked pause file replaces the link, not what it points to. */
	assert_int_equal(unlink(target), 0);
	assert_int_equal(symlink(victim, target), 0);
	assert_int_equal(srv_state_write_pause(target, 1, "bob", NULL, err, sizeof err), 0);
	assert_string_equal(slurp(victim), "precious\n");
	assert_int_equal(srv_state_write_pause(target, 0, NULL, NULL, err, sizeof err), 0);
	assert_int_equal(srv_state_file_present(target, err, sizeof err), 0);
}

static void test_spool_key(void **state)
{
	(void)state;
	unsigned char k1[SRV_SPOOL_KEY_LEN], k2[SRV_SPOOL_KEY_LEN];
	char err[1024], path[300];
	assert_int_equal(srv_state_spool_key(dir, k1, err, sizeof err), 0);
	path_of(path, sizeof path, "spool.key");
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, SRV_SPOOL_KEY_LEN);
	assert_int_equal(srv_state_spool_key(dir, k2, err, sizeof err), 0);
	assert_memory_equal(k1, k2, SRV_SPOOL_KEY_LEN);
	assert_int_equal(chmod(path, 0640), 0);
	expect_error(srv_state_spool_key(dir, k2, err, sizeof err), err, "mode 0600");
	/* A symlink in place of the key (to a key the attacker knows) is refused. */
	char theirs[300];
	path_of(theirs, sizeof theirs, "their.key");
	write_text(theirs, "0123456789abcdef0123456789abcdef", 0600);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(theirs, path), 0);
	expect_error(srv_state_spool_key(dir, k2, err, sizeof err), err, "a symlink");
}

static void test_spool_seal(void **state)
{
	(void)state;
	unsigned char key[SRV_SPOOL_KEY_LEN], other[SRV_SPOOL_KEY_LEN];
	memset(key, 7, sizeof key);
	memset(other, 8, sizeof other);
	const char *json = "{\"id\":\"abc\",\"dry_run\":true,\"runbook\":\"scale.lua\"}";
	char *sealed = srv_state_seal(key, json);
	assert_non_null(sealed);
	assert_int_equal(strncmp(sealed, "salve-spool-v1 ", 15), 0);
	assert_int_equal(sealed[15 + 64], '\n');
	char err[512];
	const char *got = srv_state_unseal(key, sealed, strlen(sealed), err, sizeof err);
	assert_non_null(got);
	assert_string_equal(got, json);
	/* The F4 attack: flip dry_run in a queued run, keep the MAC line. */
	char *forged = strdup(sealed);
	char *flag = strstr(forged, "\"dry_run\":true");
	memcpy(flag, "\"dry_run\":1   ", 14);
	assert_null(srv_state_unseal(key, forged, strlen(forged), err, sizeof err));
	assert_non_null(strstr(err, "its MAC does not verify"));
	/* Sealed under another key, or never sealed at all. */
	assert_null(srv_state_unseal(other, sealed, strlen(sealed), err, sizeof err));
	assert_non_null(strstr(err, "its MAC does not verify"));
	assert_null(srv_state_unseal(key, json, strlen(json), err, sizeof err));
	assert_non_null(strstr(err, "not a sealed spool entry"));
	/* A NUL hidden after the JSON (json_loads would stop there) changes the MAC. */
	size_t n = strlen(sealed);
	char *longer = malloc(n + 5);
	memcpy(longer, sealed, n);
	memcpy(longer + n, "\0xyz", 4);
	assert_null(srv_state_unseal(key, longer, n + 4, err, sizeof err));
	free(longer);
	free(forged);
	free(sealed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_private_dirs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spool_key, setup, teardown),
	    cmocka_unit_test(test_spool_seal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
