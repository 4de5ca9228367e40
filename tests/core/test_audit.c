#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "redact.h"
#include "testutil.h"
#include "util.h"

static char mounted[1024]; /* a tmpfs a test mounted, unmounted by teardown */

static int teardown(void **state)
{
	(void)state;
	if (mounted[0]) {
		umount2(mounted, MNT_DETACH);
		mounted[0] = '\0';
	}
	tu_cleanup();
	return 0;
}

static void write_n(const char *path, int n, const char *who)
{
	char err[256];
	salve_audit *a = salve_audit_open(path, SALVE_AUDIT_SYNC_NONE, err, sizeof err);
	assert_non_null(a);
	for (int i = 0; i < n; i++) {
		json_t *r = json_pack("{s:s, s:i, s:s}", "event", "test", "i", i, "who", who);
		assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	}
	salve_audit_close(a);
}

/* Rewrites the log keeping lines for which keep(lineno) is true, editing line edit. */
static void rewrite(const char *path, int drop, int edit)
{
	char *text = tu_read(path);
	FILE *f = fopen(path, "w");
	int line = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		if (line == drop)
			continue;
		if (line == edit) {
			char *p = strstr(l, "\"i\":");
			if (p)
				p[4] = p[4] == '9' ? '8' : '9';
		}
		fprintf(f, "%s\n", l);
	}
	fclose(f);
	free(text);
}

static void test_intact_chain_verifies(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 5, "x");
	write_n(p, 3, "y"); /* a second writer continues the chain */
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "8 records, hash chain intact"));
}

static void test_edited_line_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 0, 3);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(
	    strstr(msg, "a.jsonl:4: hash chain broken: the previous line (3) was edited"));
}

static void test_removed_line_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 3, 0);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl:3: record seq 4 follows seq 2: 1 record(s) missing"));
}

static void test_truncated_tail_is_found(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 6, 0);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "1 record(s) removed from the end"));
}

static void test_concurrent_processes_keep_one_chain(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	pid_t kids[3];
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			write_n(p, 50, "kid");
			_exit(0);
		}
	}
	for (int k = 0; k < 3; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "150 records"));
}

static void test_secrets_redacted(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	salve_redact_register("TOPSECRETVALUE");
	char err[256];
	salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	json_t *r = json_pack("{s:s, s:s}", "event", "x", "msg", "token TOPSECRETVALUE here");
	assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	salve_audit_close(a);
	char *text = tu_read(p);
	assert_null(strstr(text, "TOPSECRETVALUE"));
	assert_non_null(strstr(text, "token [REDACTED] here"));
	free(text);
	salve_redact_clear();
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static int ends_with_newline(const char *path)
{
	char *text = tu_read(path);
	size_t n = text ? strlen(text) : 0;
	int yes = n > 0 && text[n - 1] == '\n';
	free(text);
	return yes;
}

static void assert_verifies(const char *path, const char *summary)
{
	char msg[1024];
	int rc = salve_audit_verify(path, msg, sizeof msg);
	if (rc != 0 || !strstr(msg, summary))
		fail_msg("verify %s: rc %d, \"%s\" (wanted \"%s\")", path, rc, msg, summary);
}

/* A file size limit that cuts writes at an exact byte, as a full disk would; undone by
 * unlimit_size. */
struct size_limit {
	struct rlimit old;
	void (*prev)(int);
};

static void limit_size(struct size_limit *l, off_t max)
{
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &l->old), 0);
	struct rlimit lim = l->old;
	lim.rlim_cur = (rlim_t)max;
	l->prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void unlimit_size(struct size_limit *l)
{
	setrlimit(RLIMIT_FSIZE, &l->old);
	signal(SIGXFSZ, l->prev);
}

/* The log's records end with one whose event is "after", the last one written. */
static void assert_last_event_is_after(const char *p, size_t n)
{
	char want[64];
	snprintf(want, sizeof want, "%zu records, hash chain intact", n);
	assert_verifies(p, want);
	json_t *recs = tu_audit_records(p);
	assert_int_equal(json_array_size(recs), n);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(recs, n - 1), "event")), "after");
	json_decref(recs);
}

/* Bug 6: a write cut short (here by a file size limit, which cuts it at an exact byte) leaves
 * no half line: the log is cut back, the error says so, and the next record chains on. */
static void test_short_write_is_cut_back(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 3, "x");
	off_t before = file_size(p);
	char err[512];
	salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	assert_non_null(a);

	struct size_limit lim;
	limit_size(&lim, before + 40);
	json_t *r =
	    json_pack("{s:s, s:s}", "event", "big", "pad",
	              "a record much longer than the forty bytes the limit leaves room for");
	int rc = salve_audit_write(a, r, err, sizeof err);
	int saved = errno;
	unlimit_size(&lim);

	assert_int_equal(rc, -1);
	assert_int_equal(saved, ENOSPC);
	assert_non_null(strstr(err, "write cut short after 40 of "));
	assert_non_null(strstr(err, "the log was cut back to its last complete record"));
	assert_int_equal(file_size(p), before);
	assert_true(ends_with_newline(p));
	assert_verifies(p, "3 records, hash chain intact");

	r = json_pack("{s:s}", "event", "after");
	assert_int_equal(salve_audit_write(a, r, err, sizeof err), 0);
	salve_audit_close(a);
	assert_last_event_is_after(p, 4);
}

/* Bug 6 on a real full disk: a 64 KiB tmpfs. Every record either lands whole or not at all,
 * the chain verifies at every point, and writing resumes once there is room. */
static void test_full_disk_never_tears_the_log(void **state)
{
	(void)state;
	const char *dir = tu_path("small");
	assert_int_equal(mkdir(dir, 0700), 0);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700") < 0) {
		print_message("SKIPPED: mount -t tmpfs needs root (CAP_SYS_ADMIN): %s; the "
		              "short-write test covers the same path\n",
		              strerror(errno));
		skip();
	}
	snprintf(mounted, sizeof mounted, "%s", dir);
	char filler[1100], logp[1100];
	snprintf(filler, sizeof filler, "%s/filler", dir);
	snprintf(logp, sizeof logp, "%s/audit.jsonl", dir);
	char pad[16384];
	memset(pad, 'f', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	tu_write(filler, pad);

	char err[512];
	salve_audit *a = salve_audit_open(logp, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	assert_non_null(a);
	char payload[1500];
	memset(payload, 'p', sizeof payload - 1);
	payload[sizeof payload - 1] = '\0';
	int written = 0, rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++) {
		rc = salve_audit_write(
		    a, json_pack("{s:s, s:i, s:s}", "event", "fill", "i", i, "pad", payload), err,
		    sizeof err);
		written += rc == 0;
	}
	assert_int_equal(rc, -1);
	assert_true(written > 10);
	assert_non_null(strstr(err, strerror(ENOSPC)));
	assert_true(ends_with_newline(logp));
	char want[64];
	snprintf(want, sizeof want, "%d records, hash chain intact", written);
	assert_verifies(logp, want);

	/* a second failure in a row changes nothing either */
	assert_int_equal(
	    salve_audit_write(a, json_pack("{s:s, s:s}", "event", "again", "pad", payload), err,
	                      sizeof err),
	    -1);
	assert_verifies(logp, want);

	assert_int_equal(unlink(filler), 0);
	assert_int_equal(
	    salve_audit_write(a, json_pack("{s:s}", "event", "room again"), err, sizeof err), 0);
	salve_audit_close(a);
	snprintf(want, sizeof want, "%d records, hash chain intact", written + 1);
	assert_verifies(logp, want);
}

/* A writer that died in the middle of its write() left half a line: the next writer cuts it
 * off, records what it removed, and the chain verifies again. */
static void test_torn_tail_is_cut_off_and_recorded(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 3, "x");
	static const char torn[] = "{\"seq\":4,\"ts\":\"2024-01-01T00:00:00Z\",\"event\":\"ha";
	FILE *f = fopen(p, "a");
	fputs(torn, f);
	fclose(f);
	char msg[512];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl:4: last line is incomplete (a torn write)"));

	write_n(p, 1, "y");
	assert_verifies(p, "5 records, hash chain intact");
	json_t *recs = tu_audit_records(p);
	json_t *rep = json_array_get(recs, 3);
	assert_string_equal(json_string_value(json_object_get(rep, "event")), "audit_repaired");
	assert_int_equal(json_integer_value(json_object_get(rep, "seq")), 4);
	assert_int_equal(json_integer_value(json_object_get(rep, "removed_bytes")), strlen(torn));
	assert_string_equal(json_string_value(json_object_get(rep, "removed")), torn);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 4), "who")),
	                    "y");
	json_decref(recs);
}

static volatile sig_atomic_t usr1_seen;
static int signal_pipe = -1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
	char c = 's';
	if (write(signal_pipe, &c, 1) < 0)
		usr1_seen += 0;
}

/* Whether pid waits for an flock (a "->" line of /proc/locks). */
static int waits_for_flock(pid_t pid)
{
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		return 0;
	char line[512], want[32];
	snprintf(want, sizeof want, " %d ", (int)pid);
	int yes = 0;
	while (fgets(line, sizeof line, f))
		yes |= strstr(line, "-> FLOCK") && strstr(line, want);
	fclose(f);
	return yes;
}

static void wait_until_blocked(pid_t pid)
{
	for (int i = 0; i < 2000 && !waits_for_flock(pid); i++)
		usleep(5000);
	if (!waits_for_flock(pid))
		fail_msg("the writer never waited for the audit lock");
}

/* Bug 7: a signal (its handler installed without SA_RESTART) arrives while the writer waits
 * for the audit lock. The record is still written once the lock is free, never dropped. */
static void test_signal_during_lock_wait_keeps_the_record(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 2, "x");
	int go[2], sigs[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(sigs), 0);
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		signal_pipe = sigs[1];
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr1; /* no SA_RESTART: flock returns EINTR */
		sigaction(SIGUSR1, &sa, NULL);
		char err[512], c;
		salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
		if (!a || read(go[0], &c, 1) != 1)
			_exit(10);
		int rc =
		    salve_audit_write(a, json_pack("{s:s}", "event", "signalled"), err, sizeof err);
		salve_audit_close(a);
		if (rc < 0)
			fprintf(stderr, "child: %s\n", err);
		_exit(rc == 0 && usr1_seen >= 1 ? 0 : 11);
	}
	int holder = open(p, O_RDONLY);
	assert_true(holder >= 0);
	assert_int_equal(flock(holder, LOCK_EX), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	wait_until_blocked(kid);
	for (int i = 0; i < 3; i++) {
		char c;
		assert_int_equal(kill(kid, SIGUSR1), 0);
		assert_int_equal(read(sigs[0], &c, 1), 1); /* the handler ran */
		wait_until_blocked(kid);                   /* and the writer waits again */
	}
	flock(holder, LOCK_UN);
	close(holder);
	int st;
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(go[0]);
	close(go[1]);
	close(sigs[0]);
	close(sigs[1]);
	assert_verifies(p, "3 records, hash chain intact");
}

/* verify while another process appends (salve serve running, `salve audit verify` from a
 * shell): every verify sees a consistent log and head, never a head ahead of the log. */
static void test_verify_while_another_process_writes(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 1, "x");
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		char err[512];
		salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
		int rc = a ? 0 : -1;
		for (int i = 0; i < 300 && rc == 0; i++)
			rc = salve_audit_write(a, json_pack("{s:s, s:i}", "event", "w", "i", i),
			                       err, sizeof err);
		salve_audit_close(a);
		_exit(rc == 0 ? 0 : 1);
	}
	int verified = 0, st = 0;
	char msg[1024];
	while (waitpid(kid, &st, WNOHANG) == 0) {
		if (salve_audit_verify(p, msg, sizeof msg) != 0)
			fail_msg("verify during writes: %s", msg);
		verified++;
	}
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(verified > 0);
	assert_verifies(p, "301 records, hash chain intact");
}

static void expect_open_refused(const char *path, const char *why)
{
	char err[1024];
	salve_audit *a = salve_audit_open(path, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	if (a) {
		salve_audit_close(a);
		fail_msg("%s was opened; wanted it refused with \"%s\"", path, why);
	}
	if (!strstr(err, why))
		fail_msg("%s refused with \"%s\"; wanted \"%s\"", path, err, why);
}

static const char passwd_copy[] = "root:x:0:0:root:/root:/bin/bash\n"
                                  "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";

/* Bug 8, the exact attack: the audit path is a symlink to a copy of /etc/passwd. */
static void test_symlinked_log_is_refused(void **state)
{
	(void)state;
	const char *target = tu_path("passwd");
	const char *p = tu_path("a.jsonl");
	tu_write(target, passwd_copy);
	assert_int_equal(symlink(target, p), 0);
	char want[1200];
	snprintf(want, sizeof want, "audit log %s is a symbolic link: refused", p);
	expect_open_refused(p, want);
	char *text = tu_read(target);
	assert_string_equal(text, passwd_copy);
	free(text);

	/* a dangling link is not followed to create its target either */
	unlink(p);
	const char *nowhere = tu_path("created-through-link");
	assert_int_equal(symlink(nowhere, p), 0);
	expect_open_refused(p, "is a symbolic link: refused");
	assert_int_equal(access(nowhere, F_OK), -1);

	/* nor the head */
	unlink(p);
	write_n(p, 2, "x");
	const char *head = tu_path("a.jsonl.head");
	const char *head_target = tu_path("passwd2");
	tu_write(head_target, passwd_copy);
	unlink(head);
	assert_int_equal(symlink(head_target, head), 0);
	snprintf(want, sizeof want, "audit head %s is a symbolic link: refused", head);
	expect_open_refused(p, want);
	text = tu_read(head_target);
	assert_string_equal(text, passwd_copy);
	free(text);
	char msg[1024];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl.head: is a symbolic link"));
}

static void test_not_a_regular_file_is_refused(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	assert_int_equal(mkfifo(p, 0600), 0);
	expect_open_refused(p, "a.jsonl is not a regular file: refused");
}

static void test_unsafe_directory_or_owner_is_refused(void **state)
{
	(void)state;
	const char *dir = tu_path("shared");
	assert_int_equal(mkdir(dir, 0700), 0);
	char p[1100];
	snprintf(p, sizeof p, "%s/audit.jsonl", dir);
	assert_int_equal(chmod(dir, 0777), 0);
	expect_open_refused(p, "its directory");
	expect_open_refused(p, "is writable by everyone (mode 0777): refused");
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(chmod(dir, 0770), 0);
	expect_open_refused(p, "is writable by its group (mode 0770): refused");
	assert_int_equal(chmod(dir, 0750), 0);
	write_n(p, 1, "x");
	assert_int_equal(chmod(p, 0666), 0);
	expect_open_refused(p, "is writable by everyone (mode 0666): refused");
	assert_int_equal(chmod(p, 0640), 0);

	if (geteuid() != 0) {
		print_message("(not root: the owner checks need chown, not run)\n");
		return;
	}
	assert_int_equal(chown(p, 65534, 65534), 0);
	expect_open_refused(p, "is owned by uid 65534, not by this user (uid 0): refused");
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chown(dir, 65534, 65534), 0);
	expect_open_refused(p, "is owned by uid 65534, not by this user (uid 0): refused");
	assert_int_equal(chown(dir, 0, 0), 0);
	write_n(p, 1, "x");
	assert_verifies(p, "2 records, hash chain intact");
}

static char *head_path(const char *p)
{
	static char buf[1100];
	snprintf(buf, sizeof buf, "%s.head", p);
	return buf;
}

/* Bug 9, the exact attack: delete the head, cut the last 3 records. verify fails, writers
 * refuse to append (which would recreate the head and make the gap permanent), and only the
 * deliberate, audited --accept-missing-head lets them go on. */
static void test_missing_head_is_a_failure_until_accepted(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	char err[1024], msg[1024];
	salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	for (int i = 0; i < 8; i++)
		assert_int_equal(salve_audit_write(a, json_pack("{s:s, s:i}", "event", "e", "i", i),
		                                   err, sizeof err),
		                 0);
	salve_audit_close(a);
	assert_int_equal(unlink(head_path(p)), 0);
	rewrite(p, 8, 0);
	rewrite(p, 7, 0);
	rewrite(p, 6, 0);
	char *cut = tu_read(p);

	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl.head is missing or empty while the log has 5 "
	                            "records"));
	expect_open_refused(p, "a.jsonl.head is missing while the log has records");
	char *now = tu_read(p);
	assert_string_equal(now, cut);
	free(now);
	assert_int_equal(access(head_path(p), F_OK), -1);

	assert_int_equal(salve_audit_accept_missing_head(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "5 records, hash chain intact; the missing head was "
	                            "accepted (recorded as seq 6) and recreated"));
	json_t *recs = tu_audit_records(p);
	assert_int_equal(json_array_size(recs), 6);
	json_t *acc = json_array_get(recs, 5);
	assert_string_equal(json_string_value(json_object_get(acc, "event")),
	                    "audit_head_accepted");
	assert_int_equal(json_integer_value(json_object_get(acc, "uid")), (json_int_t)geteuid());
	assert_int_equal(json_integer_value(json_object_get(acc, "records")), 5);
	json_decref(recs);
	assert_verifies(p, "6 records, hash chain intact");
	write_n(p, 1, "after");
	assert_verifies(p, "7 records, hash chain intact");
	free(cut);

	/* nothing to accept when the head is there */
	assert_int_equal(salve_audit_accept_missing_head(p, msg, sizeof msg), 0);
	assert_non_null(strstr(msg, "its head is present: nothing to accept"));
	assert_verifies(p, "7 records, hash chain intact");
}

static void test_empty_head_counts_as_missing(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 4, "x");
	assert_int_equal(truncate(head_path(p), 0), 0);
	char msg[1024];
	assert_int_equal(salve_audit_verify(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "missing or empty"));
	expect_open_refused(p, "a.jsonl.head is empty while the log has records");
	assert_int_equal(salve_audit_accept_missing_head(p, msg, sizeof msg), 0);
	assert_verifies(p, "5 records, hash chain intact");
}

/* With the head kept, records cut from the end are refused by writers too: appending would
 * move the head back and hide the cut. */
static void test_writer_refuses_a_log_cut_behind_its_head(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 6, "x");
	rewrite(p, 6, 0);
	rewrite(p, 5, 0);
	char *cut = tu_read(p);
	expect_open_refused(p, "ends before the record its head names (records were removed "
	                       "from the end)");
	char *now = tu_read(p);
	assert_string_equal(now, cut);
	free(now);
	free(cut);
	char msg[1024];
	assert_int_equal(salve_audit_accept_missing_head(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "2 record(s) removed from the end"));
}

static void test_accept_refuses_a_broken_chain(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 5, "x");
	rewrite(p, 0, 2);
	unlink(head_path(p));
	char *before = tu_read(p);
	char msg[1024];
	assert_int_equal(salve_audit_accept_missing_head(p, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "a.jsonl:3: hash chain broken"));
	char *after = tu_read(p);
	assert_string_equal(after, before);
	free(before);
	free(after);
	assert_int_equal(access(head_path(p), F_OK), -1);
}

/* salve_audit_sync makes sync-none records durable and names them in the head at once. */
static void test_sync_writes_the_head(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	char err[512];
	salve_audit *a = salve_audit_open(p, SALVE_AUDIT_SYNC_NONE, err, sizeof err);
	assert_non_null(a);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    salve_audit_write(a, json_pack("{s:s}", "event", "e"), err, sizeof err), 0);
	char *head = tu_read(head_path(p));
	assert_non_null(strstr(head, "\"seq\":                   0,"));
	free(head);
	assert_int_equal(salve_audit_sync(a, err, sizeof err), 0);
	head = tu_read(head_path(p));
	assert_non_null(strstr(head, "\"seq\":                   3,"));
	free(head);
	assert_verifies(p, "3 records, hash chain intact");
	salve_audit_close(a);
}

/* Group commit: records wait in memory until the sync, which writes them in one write()
 * chained after whatever another handle (here a sync-always one of the same process)
 * appended meanwhile, and names the last in the head. */
static void test_group_waits_for_the_sync(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	char err[512];
	write_n(p, 2, "before");
	salve_redact_register("hunter2");
	salve_audit *g = salve_audit_open(p, SALVE_AUDIT_SYNC_GROUP, err, sizeof err);
	salve_audit *other = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	assert_non_null(g);
	assert_non_null(other);
	off_t size = file_size(p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(salve_audit_write(g,
		                                   json_pack("{s:s, s:i, s:s}", "event", "g", "i",
		                                             i, "token", "hunter2"),
		                                   err, sizeof err),
		                 0);
	assert_int_equal(file_size(p), size);
	assert_int_equal(
	    salve_audit_write(other, json_pack("{s:s}", "event", "between"), err, sizeof err), 0);
	assert_int_equal(salve_audit_sync(g, err, sizeof err), 0);
	assert_verifies(p, "6 records, hash chain intact");
	char *head = tu_read(head_path(p));
	assert_non_null(strstr(head, "\"seq\":                   6,"));
	free(head);
	json_t *recs = tu_audit_records(p);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "event")),
	                    "between");
	for (int i = 3; i < 6; i++) {
		json_t *r = json_array_get(recs, (size_t)i);
		assert_int_equal(json_integer_value(json_object_get(r, "seq")), i + 1);
		assert_int_equal(json_integer_value(json_object_get(r, "i")), i - 3);
		/* redacted like any record */
		assert_string_equal(json_string_value(json_object_get(r, "token")), "[REDACTED]");
	}
	json_decref(recs);
	/* nothing waits after a sync: a second one writes nothing */
	size = file_size(p);
	assert_int_equal(salve_audit_sync(g, err, sizeof err), 0);
	assert_int_equal(file_size(p), size);
	/* and close writes what still waits */
	assert_int_equal(salve_audit_write(g, json_pack("{s:s}", "event", "last"), err, sizeof err),
	                 0);
	salve_audit_close(g);
	salve_audit_close(other);
	salve_redact_clear();
	assert_verifies(p, "7 records, hash chain intact");
}

/* A group whose write is cut short lands not at all: the log is cut back to where it ended,
 * every record of the group is reported (by the sync) as not written, none stays waiting,
 * and the next group chains on from the log's last record. */
static void test_group_cut_short_lands_not_at_all(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 3, "x");
	off_t before = file_size(p);
	char err[512];
	salve_audit *g = salve_audit_open(p, SALVE_AUDIT_SYNC_GROUP, err, sizeof err);
	assert_non_null(g);
	for (int i = 0; i < 5; i++)
		assert_int_equal(salve_audit_write(g, json_pack("{s:s, s:i}", "event", "g", "i", i),
		                                   err, sizeof err),
		                 0);
	/* room for the first two records of the group, not for all five */
	struct size_limit lim;
	limit_size(&lim, before + 250);
	int rc = salve_audit_sync(g, err, sizeof err);
	int saved = errno;
	unlimit_size(&lim);
	assert_int_equal(rc, -1);
	assert_int_equal(saved, ENOSPC);
	assert_non_null(strstr(err, "write cut short after 250 of "));
	assert_non_null(strstr(err, "the records of the group were not written"));
	assert_int_equal(file_size(p), before);
	assert_verifies(p, "3 records, hash chain intact");
	assert_int_equal(salve_audit_sync(g, err, sizeof err), 0);
	assert_int_equal(file_size(p), before);
	assert_int_equal(
	    salve_audit_write(g, json_pack("{s:s}", "event", "after"), err, sizeof err), 0);
	assert_int_equal(salve_audit_sync(g, err, sizeof err), 0);
	salve_audit_close(g);
	assert_last_event_is_after(p, 4);
}

/* A group's sync that fails while repairing the tail (another writer appended, then one died
 * mid-line, and there is no room for the repair record) leaves the handle as the file is:
 * the next group chains on from the file's real last record, never from what the handle
 * knew before (review finding: it restored the stale seq and numbered seq 2 twice). */
static void test_group_failed_repair_keeps_the_chain(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	char err[512];
	salve_audit *w = salve_audit_open(p, SALVE_AUDIT_SYNC_ALWAYS, err, sizeof err);
	assert_non_null(w);
	assert_int_equal(salve_audit_write(w, json_pack("{s:s}", "event", "one"), err, sizeof err),
	                 0);
	salve_audit *g = salve_audit_open(p, SALVE_AUDIT_SYNC_GROUP, err, sizeof err);
	assert_non_null(g);
	assert_int_equal(salve_audit_write(w, json_pack("{s:s}", "event", "two"), err, sizeof err),
	                 0);
	int fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"seq\":3,\"x", 11), 11);
	close(fd);
	off_t good = file_size(p) - 11;
	assert_int_equal(salve_audit_write(g, json_pack("{s:s}", "event", "g1"), err, sizeof err),
	                 0);
	struct size_limit lim;
	limit_size(&lim, good + 20); /* the torn line is cut off; no room for the repair */
	int rc = salve_audit_sync(g, err, sizeof err);
	unlimit_size(&lim);
	assert_int_equal(rc, -1);
	assert_verifies(p, "2 records, hash chain intact");
	assert_int_equal(
	    salve_audit_write(g, json_pack("{s:s}", "event", "after"), err, sizeof err), 0);
	assert_int_equal(salve_audit_sync(g, err, sizeof err), 0);
	salve_audit_close(g);
	salve_audit_close(w);
	json_t *recs = tu_audit_records(p);
	size_t n = json_array_size(recs);
	json_decref(recs);
	/* one, two, after: the torn bytes were cut before the repair record failed (as with a
	 * single record's append) */
	assert_int_equal(n, 3);
	assert_last_event_is_after(p, n);
}

/* A group is checked like a single record: a log cut behind its head since the handle
 * opened is not appended to, and the group is dropped with the reason. */
static void test_group_refuses_a_log_cut_behind_its_head(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 3, "x");
	char err[512];
	salve_audit *g = salve_audit_open(p, SALVE_AUDIT_SYNC_GROUP, err, sizeof err);
	assert_non_null(g);
	rewrite(p, 3, 0);
	assert_int_equal(salve_audit_write(g, json_pack("{s:s}", "event", "g"), err, sizeof err),
	                 0);
	assert_int_equal(salve_audit_sync(g, err, sizeof err), -1);
	assert_non_null(strstr(err, "records were removed from the end"));
	salve_audit_close(g);
	assert_int_equal(file_size(p) > 0, 1);
	json_t *recs = tu_audit_records(p);
	assert_int_equal(json_array_size(recs), 2);
	json_decref(recs);
}

/* Writes a log and its head exactly as given. */
static void write_log(const char *path, const char *log, const char *head)
{
	tu_write(path, log);
	if (head)
		tu_write(head_path(path), head);
	else
		unlink(head_path(path));
}

static void assert_refused(const char *path, const char *why)
{
	char msg[1024];
	int rc = salve_audit_verify(path, msg, sizeof msg);
	if (rc != 1 || !strstr(msg, why))
		fail_msg("verify %s: rc %d, \"%s\" (wanted 1 and \"%s\")", path, rc, msg, why);
}

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"

/* Fuzz finding 10 (tests/fuzz/corpus/audit/bug-first-record-seq): a one-record log whose seq
 * is 2, with the head a writer would leave for it. Verify said "hash chain intact". */
static void test_first_record_must_be_seq_1(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	const char *line = "{\"seq\":2,\"prev\":\"" ZERO64 "\",\"event\":\"xyyyyyyy\"}";
	char hash[65], log[512], head[256];
	salve_sha256_hex(line, strlen(line), hash);
	snprintf(log, sizeof log, "%s\n", line);
	snprintf(head, sizeof head, "{\"seq\":2,\"hash\":\"%s\"}\n", hash);
	write_log(p, log, head);
	assert_refused(p, "a.jsonl:1: the first record has seq 2: 1 record(s) missing before "
	                  "this line");

	/* The attack on a real log: its one record renumbered, its head left as it was. */
	write_log(p, "", NULL);
	write_n(p, 1, "x");
	assert_verifies(p, "1 records, hash chain intact");
	char *text = tu_read(p);
	char *seq = strstr(text, "\"seq\":1,");
	assert_non_null(seq);
	seq[6] = '2';
	tu_write(p, text);
	free(text);
	assert_refused(p, "a.jsonl:1: the first record has seq 2");
}

/* Fuzz finding 10: a head behind the log must name a record the log has, with its hash. The
 * attack: the chain re-hashed from record 2 on (no key is needed to do that) and the head left
 * naming record 2. */
static void test_head_behind_the_log_is_compared(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	write_n(p, 4, "x");
	char *text = tu_read(p);
	char *lines[4], *save = NULL;
	int n = 0;
	for (char *l = strtok_r(text, "\n", &save); l && n < 4; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	assert_int_equal(n, 4);
	char hash2[65], head[256];
	salve_sha256_hex(lines[1], strlen(lines[1]), hash2);

	/* A head a writer left behind (died before moving it, or wrote without sync). */
	snprintf(head, sizeof head, "{\"seq\":%20d,\"hash\":\"%s\"}\n", 2, hash2);
	tu_write(head_path(p), head);
	assert_verifies(p, "4 records, hash chain intact");
	snprintf(head, sizeof head, "{\"seq\":%20d,\"hash\":\"%s\"}\n", 0, ZERO64);
	tu_write(head_path(p), head);
	assert_verifies(p, "4 records, hash chain intact");

	/* Record 2 edited, records 3 and 4 re-chained on it. */
	char prev[65];
	salve_sha256_hex(lines[0], strlen(lines[0]), prev);
	FILE *f = fopen(p, "w");
	fprintf(f, "%s\n", lines[0]);
	for (int i = 1; i < 4; i++) {
		json_t *rec = json_loads(lines[i], 0, NULL);
		assert_non_null(rec);
		json_object_set_new(rec, "prev", json_string(prev));
		if (i == 1)
			json_object_set_new(rec, "who", json_string("someone else"));
		char *out = json_dumps(rec, JSON_COMPACT);
		fprintf(f, "%s\n", out);
		salve_sha256_hex(out, strlen(out), prev);
		free(out);
		json_decref(rec);
	}
	fclose(f);
	free(text);
	snprintf(head, sizeof head, "{\"seq\":%20d,\"hash\":\"%s\"}\n", 2, hash2);
	tu_write(head_path(p), head);
	assert_refused(p, "a.jsonl:2: record seq 2 was edited (its hash differs from the head, "
	                  "which names it)");
	/* A head naming no record must name the chain's start. */
	snprintf(head, sizeof head, "{\"seq\":%20d,\"hash\":\"%s\"}\n", 0, hash2);
	tu_write(head_path(p), head);
	assert_refused(p, "a.jsonl.head names seq 0 (no record yet) with a hash that is not the "
	                  "chain's start");
	/* Negative seqs name nothing. */
	snprintf(head, sizeof head, "{\"seq\":%20d,\"hash\":\"%s\"}\n", -1, hash2);
	tu_write(head_path(p), head);
	assert_refused(p, "a.jsonl.head: damaged (not a head record)");
}

/* Fuzz finding 11 (tests/fuzz/corpus/audit/bug-seq-overflow-*): seqs at the ends of the
 * integer range made verify compute prev_seq + 1, seq - prev_seq - 1 and hseq - prev_seq with
 * signed overflow (UBSan aborts this test if any is computed). */
static void test_extreme_seqs_are_refused_without_overflow(void **state)
{
	(void)state;
	const char *p = tu_path("a.jsonl");
	/* the exact reproducers */
	write_log(p,
	          "{\"seq\":9223372036854775807,\"prev\":\"" ZERO64 "\"}\n"
	          "{\"seq\":1,\"prev\":\"x\"}\n",
	          NULL);
	assert_refused(p, "a.jsonl:1: the first record has seq 9223372036854775807: "
	                  "9223372036854775806 record(s) missing");
	write_log(p,
	          "{\"seq\":-9223372036854775808,\"prev\":\"" ZERO64 "\"}\n"
	          "{\"seq\":9223372036854775807,\"prev\":\"x\"}\n",
	          NULL);
	assert_refused(p, "a.jsonl:1: record seq -9223372036854775808: records are numbered "
	                  "from 1");
	write_log(p, "{\"seq\":-5,\"prev\":\"" ZERO64 "\"}\n",
	          "{\"seq\":9223372036854775807,\"hash\":\"x\"}\n");
	assert_refused(p, "a.jsonl:1: record seq -5: records are numbered from 1");

	/* The same values after a good first record. */
	const char *first = "{\"seq\":1,\"prev\":\"" ZERO64 "\"}";
	char hash[65], log[1024], head[256];
	salve_sha256_hex(first, strlen(first), hash);
	snprintf(log, sizeof log, "%s\n{\"seq\":9223372036854775807,\"prev\":\"%s\"}\n", first,
	         hash);
	write_log(p, log, NULL);
	assert_refused(p, "a.jsonl:2: record seq 9223372036854775807 follows seq 1: "
	                  "9223372036854775805 record(s) missing before this line");
	snprintf(log, sizeof log, "%s\n{\"seq\":-9223372036854775808,\"prev\":\"%s\"}\n", first,
	         hash);
	write_log(p, log, NULL);
	assert_refused(p, "a.jsonl:2: record seq -9223372036854775808: records are numbered");
	snprintf(log, sizeof log, "%s\n", first);
	snprintf(head, sizeof head, "{\"seq\":9223372036854775807,\"hash\":\"%s\"}\n", hash);
	write_log(p, log, head);
	assert_refused(p, "a.jsonl:1: the log ends at seq 1 but its head says "
	                  "9223372036854775807 records were written: 9223372036854775806 "
	                  "record(s) removed from the end");
	snprintf(head, sizeof head, "{\"seq\":-9223372036854775808,\"hash\":\"%s\"}\n", hash);
	write_log(p, log, head);
	assert_refused(p, "a.jsonl.head: damaged (not a head record)");
	snprintf(head, sizeof head, "{\"seq\":1,\"hash\":\"%s\"}\n", hash);
	write_log(p, log, head);
	assert_verifies(p, "1 records, hash chain intact");

	/* A writer never appends seq + 1 after a last seq it could not have written. */
	snprintf(log, sizeof log, "{\"seq\":9223372036854775807,\"prev\":\"%s\"}\n", ZERO64);
	salve_sha256_hex(log, strlen(log) - 1, hash);
	snprintf(head, sizeof head, "{\"seq\":9223372036854775807,\"hash\":\"%s\"}\n", hash);
	write_log(p, log, head);
	expect_open_refused(p, "its last complete line is not a salve audit record");
	snprintf(log, sizeof log, "{\"seq\":-3,\"prev\":\"%s\"}\n", ZERO64);
	salve_sha256_hex(log, strlen(log) - 1, hash);
	snprintf(head, sizeof head, "{\"seq\":0,\"hash\":\"%s\"}\n", ZERO64);
	write_log(p, log, head);
	expect_open_refused(p, "its last complete line is not a salve audit record");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_intact_chain_verifies, teardown),
	    cmocka_unit_test_teardown(test_edited_line_is_found, teardown),
	    cmocka_unit_test_teardown(test_removed_line_is_found, teardown),
	    cmocka_unit_test_teardown(test_truncated_tail_is_found, teardown),
	    cmocka_unit_test_teardown(test_concurrent_processes_keep_one_chain, teardown),
	    cmocka_unit_test_teardown(test_secrets_redacted, teardown),
	    cmocka_unit_test_teardown(test_group_waits_for_the_sync, teardown),
	    cmocka_unit_test_teardown(test_group_cut_short_lands_not_at_all, teardown),
	    cmocka_unit_test_teardown(test_group_failed_repair_keeps_the_chain, teardown),
	    cmocka_unit_test_teardown(test_group_refuses_a_log_cut_behind_its_head, teardown),
	    cmocka_unit_test_teardown(test_short_write_is_cut_back, teardown),
	    cmocka_unit_test_teardown(test_full_disk_never_tears_the_log, teardown),
	    cmocka_unit_test_teardown(test_torn_tail_is_cut_off_and_recorded, teardown),
	    cmocka_unit_test_teardown(test_signal_during_lock_wait_keeps_the_record, teardown),
	    cmocka_unit_test_teardown(test_verify_while_another_process_writes, teardown),
	    cmocka_unit_test_teardown(test_symlinked_log_is_refused, teardown),
	    cmocka_unit_test_teardown(test_not_a_regular_file_is_refused, teardown),
	    cmocka_unit_test_teardown(test_unsafe_directory_or_owner_is_refused, teardown),
	    cmocka_unit_test_teardown(test_missing_head_is_a_failure_until_accepted, teardown),
	    cmocka_unit_test_teardown(test_empty_head_counts_as_missing, teardown),
	    cmocka_unit_test_teardown(test_writer_refuses_a_log_cut_behind_its_head, teardown),
	    cmocka_unit_test_teardown(test_accept_refuses_a_broken_chain, teardown),
	    cmocka_unit_test_teardown(test_sync_writes_the_head, teardown),
	    cmocka_unit_test_teardown(test_first_record_must_be_seq_1, teardown),
	    cmocka_unit_test_teardown(test_head_behind_the_log_is_compared, teardown),
	    cmocka_unit_test_teardown(test_extreme_seqs_are_refused_without_overflow, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
