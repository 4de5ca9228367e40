/*
 * Fan-out commands: a command on an SSH session (channel, exec, stdin, stdout/stderr, exit
 * status) or as a local child process, as non-blocking steps of a job (see fanout_int.h).
 */
#include "fanout_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* "env -- 'NAME=value'... " for a declared environment; nothing when there is none. */
static int add_env_prefix(struct sp_buf *b, const json_t *env)
{
	if (json_object_size(env) == 0)
		return 0;
	sp_buf_addstr(b, "env --");
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)env, name, v)
	{
		struct sp_buf kv = {0};
		sp_buf_printf(&kv, "%s=%s", name, json_string_value(v));
		sp_buf_addstr(b, " ");
		sp_shell_quote(b, kv.data);
		sp_buf_free(&kv);
	}
	return sp_buf_addstr(b, " ");
}

char *sp_cmd_line(const struct sp_cmd *c)
{
	struct sp_buf b = {0};
	int env = json_object_size(c->env) > 0;
	if (c->host && c->host->become)
		sp_buf_addstr(&b, "sudo -n -- ");
	add_env_prefix(&b, c->env);
	if (c->shell) {
		if ((c->host && c->host->become) || env) {
			sp_buf_addstr(&b, "sh -c ");
			sp_shell_quote(&b, c->shell);
		} else {
			sp_buf_addstr(&b, c->shell);
		}
	} else if (sp_shell_join(&b, c->argv) < 0) {
		sp_buf_free(&b);
		return NULL;
	}
	return sp_buf_take(&b);
}

void sp_fanout__job_finish(struct sp_job *j)
{
	if (j->state == J_DONE)
		return;
	if (j->pid > 0) {
		kill(-j->pid, SIGKILL);
		waitpid(j->pid, NULL, 0);
		j->pid = 0;
	}
	if (j->fd_out >= 0)
		close(j->fd_out);
	if (j->fd_err >= 0)
		close(j->fd_err);
	if (j->fd_in >= 0)
		close(j->fd_in);
	j->fd_out = j->fd_err = j->fd_in = -1;
	sp_fanout__conn_release(j, 0);
	j->cmd->duration = sp_now() - j->start;
	j->state = J_DONE;
}

static void job_done_ok(struct sp_job *j, int reusable)
{
	sp_fanout__conn_release(j, reusable);
	j->cmd->ran = 1;
	j->cmd->duration = sp_now() - j->start;
	j->state = J_DONE;
}

static int exit_signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	            {"ABRT", SIGABRT}, {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"SEGV", SIGSEGV},
	            {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
	            {"USR2", SIGUSR2}};
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		if (strcmp(name, sigs[i].name) == 0)
			return sigs[i].num;
	return 0;
}

/* Read what the channel has; returns 1 when it hit EOF, 0 when it would block, -1 on error. */
static int ssh_drain(struct sp_job *j)
{
	char buf[32768];
	for (;;) {
		int progressed = 0;
		ssize_t n = libssh2_channel_read(j->chan, buf, sizeof buf);
		if (n > 0) {
			sp_buf_add(&j->cmd->out, buf, (size_t)n);
			progressed = 1;
		} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			return -1;
		}
		ssize_t e = libssh2_channel_read_stderr(j->chan, buf, sizeof buf);
		if (e > 0) {
			sp_buf_add(&j->cmd->err, buf, (size_t)e);
			progressed = 1;
		} else if (e < 0 && e != LIBSSH2_ERROR_EAGAIN) {
			return -1;
		}
		if (!progressed)
			return libssh2_channel_eof(j->chan) ? 1 : 0;
	}
}

/* A step on a cached session failed before the command ran: retry once on a new one. */
static enum sp_step chan_failed(struct sp_job *j, const char *what)
{
	int again = sp_fanout__conn_retry(j);
	if (again > 0)
		return SP_STEP_AGAIN;
	if (again == 0)
		sp_fanout__fail(j, SP_E_IO, "%s: %s", what,
		                sp_fanout__ssh_errmsg(j->conn->session));
	return SP_STEP_FAILED;
}

static enum sp_step chan_open(struct sp_job *j)
{
	LIBSSH2_SESSION *s = j->conn->session;
	j->chan = libssh2_channel_open_session(s);
	if (!j->chan) {
		if (libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
			return SP_STEP_BLOCKED;
		return chan_failed(j, "cannot open an SSH channel");
	}
	j->state = J_EXEC;
	return SP_STEP_AGAIN;
}

static enum sp_step chan_exec(struct sp_job *j)
{
	int rc = libssh2_channel_exec(j->chan, j->cmdline);
	if (rc == LIBSSH2_ERROR_EAGAIN)
		return SP_STEP_BLOCKED;
	if (rc != 0)
		return chan_failed(j, "cannot start the command");
	j->cmd_deadline = fmin(sp_now() + j->cmd_timeout, j->step_deadline);
	j->state = J_IO;
	return SP_STEP_AGAIN;
}

/* Write the command's input, then EOF, while reading its output until it closes. */
static enum sp_step chan_io(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	LIBSSH2_SESSION *s = j->conn->session;
	while (!j->eof_sent) {
		if (j->in_off < c->input_len) {
			ssize_t w = libssh2_channel_write(j->chan, c->input + j->in_off,
			                                  c->input_len - j->in_off);
			if (w == LIBSSH2_ERROR_EAGAIN)
				break;
			if (w < 0) {
				sp_fanout__fail(j, SP_E_IO,
				                "writing the command's input failed: %s",
				                sp_fanout__ssh_errmsg(s));
				return SP_STEP_FAILED;
			}
			j->in_off += (size_t)w;
			continue;
		}
		if (libssh2_channel_send_eof(j->chan) == LIBSSH2_ERROR_EAGAIN)
			break;
		j->eof_sent = 1; /* an error here means the command already closed */
	}
	int rc = ssh_drain(j);
	if (rc < 0) {
		sp_fanout__fail(j, SP_E_IO, "the session broke during the command: %s",
		                sp_fanout__ssh_errmsg(s));
		return SP_STEP_FAILED;
	}
	if (rc == 0)
		return SP_STEP_BLOCKED;
	j->state = J_CLOSE;
	return SP_STEP_AGAIN;
}

/* Close the channel and take the exit status (or 128 + the signal that ended it). */
static enum sp_step chan_close(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	int rc;
	switch (j->state) {
	case J_CLOSE:
		if (libssh2_channel_close(j->chan) == LIBSSH2_ERROR_EAGAIN)
			return SP_STEP_BLOCKED;
		j->state = J_WAIT_CLOSED;
		return SP_STEP_AGAIN;
	case J_WAIT_CLOSED: {
		if (libssh2_channel_wait_closed(j->chan) == LIBSSH2_ERROR_EAGAIN)
			return SP_STEP_BLOCKED;
		char *sig = NULL;
		size_t siglen = 0;
		c->rc = libssh2_channel_get_exit_status(j->chan);
		if (libssh2_channel_get_exit_signal(j->chan, &sig, &siglen, NULL, NULL, NULL,
		                                    NULL) == 0 &&
		    sig) {
			int num = exit_signal_number(sig);
			c->rc = 128 + (num ? num : 0);
			libssh2_free(j->conn->session, sig);
		}
		j->state = J_FREE_CHAN;
		return SP_STEP_AGAIN;
	}
	default: /* J_FREE_CHAN */
		rc = libssh2_channel_free(j->chan);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return SP_STEP_BLOCKED;
		j->chan = NULL;
		job_done_ok(j, rc == 0);
		return SP_STEP_BLOCKED;
	}
}

static void ssh_step(struct sp_job *j)
{
	for (;;) {
		enum sp_step r;
		switch (j->state) {
		case J_TCP:
		case J_HANDSHAKE:
		case J_AUTH_KEY:
		case J_AUTH_AGENT:
			r = sp_fanout__conn_step(j);
			break;
		case J_CHAN_OPEN:
			r = chan_open(j);
			break;
		case J_EXEC:
			r = chan_exec(j);
			break;
		case J_IO:
			r = chan_io(j);
			break;
		case J_CLOSE:
		case J_WAIT_CLOSED:
		case J_FREE_CHAN:
			r = chan_close(j);
			break;
		default:
			return;
		}
		if (r == SP_STEP_FAILED)
			sp_fanout__job_finish(j);
		if (r != SP_STEP_AGAIN)
			return;
	}
}

/* ---- local commands -------------------------------------------------------------------- */

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* NAME=value strings of a local command's environment: PATH (salve's, which is no secret,
 * else a standard one), LANG=C, then what the action declared. Never salve's own environment:
 * it holds env: secrets (a webhook URL, tokens) that any child could print. */
static char **local_env(const json_t *declared)
{
	size_t n = 2 + json_object_size(declared);
	char **envp = calloc(n + 1, sizeof *envp);
	if (!envp)
		return NULL;
	const char *path = getenv("PATH");
	const char *lang = "C";
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)declared, name, v)
	{
		/* Declared values win over the defaults. */
		if (strcmp(name, "PATH") == 0)
			path = json_string_value(v);
		else if (strcmp(name, "LANG") == 0)
			lang = json_string_value(v);
	}
	size_t k = 0;
	envp[k++] = sp_strdupf("PATH=%s", path && *path ? path : DEFAULT_PATH);
	envp[k++] = sp_strdupf("LANG=%s", lang);
	json_object_foreach((json_t *)declared, name, v)
	{
		if (strcmp(name, "PATH") != 0 && strcmp(name, "LANG") != 0)
			envp[k++] = sp_strdupf("%s=%s", name, json_string_value(v));
	}
	for (size_t i = 0; i < k; i++)
		if (!envp[i]) {
			for (size_t f = 0; f < k; f++)
				free(envp[f]);
			free(envp);
			return NULL;
		}
	return envp;
}

static int local_spawn(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1};
	int become = c->host->become && geteuid() != 0;
	char **envp = local_env(c->env);
	size_t nenv = 2 + json_object_size(c->env);
	size_t n = c->shell ? 3 : json_array_size(c->argv);
	const char **argv = calloc(n + nenv + 6, sizeof *argv);
	size_t argc = 0;
	if (!envp || !argv) {
		strv_free(envp);
		free(argv);
		sp_fanout__fail(j, SP_E_LOCAL, "out of memory");
		return -1;
	}
	if (become) {
		/* sudo resets the environment; env(1) sets the same one again after it. */
		argv[argc++] = "sudo";
		argv[argc++] = "-n";
		argv[argc++] = "--";
		argv[argc++] = "env";
		argv[argc++] = "--";
		for (size_t i = 0; envp[i]; i++)
			argv[argc++] = envp[i];
	}
	if (c->shell) {
		argv[argc++] = "/bin/sh";
		argv[argc++] = "-c";
		argv[argc++] = c->shell;
	} else {
		for (size_t i = 0; i < n; i++)
			argv[argc++] = json_string_value(json_array_get(c->argv, i));
	}
	argv[argc] = NULL;
	if (argc == 0 || !argv[0]) {
		free(argv);
		strv_free(envp);
		sp_fanout__fail(j, SP_E_LOCAL, "empty command");
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    (c->input && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)) {
		sp_fanout__fail(j, SP_E_LOCAL, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* Its own process group, so a timeout kills the command and its children. */
	posix_spawnattr_setpgroup(&attr, 0);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	sigset_t dfl;
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                    POSIX_SPAWN_SETSIGDEF);
	if (c->input)
		posix_spawn_file_actions_adddup2(&fa, in[1], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	pid_t pid;
	/* posix_spawnp does not write to argv; its prototype predates const. */
	int rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		sp_fanout__fail(j, SP_E_LOCAL, "cannot run %s: %s", argv[0], strerror(rc));
		goto fail;
	}
	close(out[1]);
	close(err[1]);
	if (in[1] >= 0)
		close(in[1]);
	j->pid = pid;
	j->fd_out = out[0];
	j->fd_err = err[0];
	j->fd_in = in[0];
	fcntl(j->fd_out, F_SETFL, O_NONBLOCK);
	fcntl(j->fd_err, F_SETFL, O_NONBLOCK);
	if (j->fd_in >= 0)
		fcntl(j->fd_in, F_SETFL, O_NONBLOCK);
	free(argv);
	strv_free(envp);
	j->cmd_deadline = fmin(sp_now() + j->cmd_timeout, j->step_deadline);
	j->state = J_LOCAL;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (in[i] >= 0)
			close(in[i]);
	}
	free(argv);
	strv_free(envp);
	return -1;
}

static void local_read(int *fd, struct sp_buf *b)
{
	char buf[32768];
	for (;;) {
		ssize_t n = read(*fd, buf, sizeof buf);
		if (n > 0) {
			sp_buf_add(b, buf, (size_t)n);
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(*fd);
			*fd = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return;
	}
}

static void local_step(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	if (j->fd_in >= 0) {
		while (j->in_off < c->input_len) {
			ssize_t w = send(j->fd_in, c->input + j->in_off, c->input_len - j->in_off,
			                 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				j->in_off = c->input_len; /* the command stopped reading */
				break;
			}
			j->in_off += (size_t)w;
		}
		if (j->in_off >= c->input_len) {
			close(j->fd_in);
			j->fd_in = -1;
		}
	}
	if (j->fd_out >= 0)
		local_read(&j->fd_out, &c->out);
	if (j->fd_err >= 0)
		local_read(&j->fd_err, &c->err);
	if (j->fd_out >= 0 || j->fd_err >= 0)
		return;
	int status;
	pid_t r = waitpid(j->pid, &status, WNOHANG);
	if (r == 0)
		return;
	if (r == j->pid) {
		c->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		j->pid = 0;
		if (j->fd_in >= 0) {
			close(j->fd_in);
			j->fd_in = -1;
		}
		job_done_ok(j, 0);
		return;
	}
	sp_fanout__fail(j, SP_E_LOCAL, "waitpid failed: %s", strerror(errno));
	j->pid = 0;
	sp_fanout__job_finish(j);
}

/* The next complete "salve: waiting for ..." line the command wrote to stderr since the last
 * call, without the "salve: " prefix (raw bytes: the reporter escapes them). 0 when none. */
int sp_fanout__next_wait_line(struct sp_job *j, char *out, size_t outlen)
{
	const struct sp_buf *e = &j->cmd->err;
	static const char prefix[] = SP_WAIT_LINE_PREFIX;
	const size_t plen = sizeof prefix - 1, skip = sizeof "salve: " - 1;
	while (e->data && j->notice_off < e->len) {
		const char *start = e->data + j->notice_off;
		const char *nl = memchr(start, '\n', e->len - j->notice_off);
		if (!nl)
			return 0;
		j->notice_off = (size_t)(nl - e->data) + 1;
		size_t len = (size_t)(nl - start);
		if (len > plen && memcmp(start, prefix, plen) == 0) {
			len -= skip;
			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, start + skip, len);
			out[len] = '\0';
			return 1;
		}
	}
	return 0;
}

void sp_fanout__job_start(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	j->start = sp_now();
	j->fd_out = j->fd_err = j->fd_in = -1;
	j->connect_deadline = fmin(j->start + j->connect_timeout, j->step_deadline);
	if (c->host->local) {
		if (local_spawn(j) < 0)
			sp_fanout__job_finish(j);
		else
			local_step(j);
		return;
	}
	j->cmdline = sp_cmd_line(c);
	if (!j->cmdline) {
		sp_fanout__fail(j, SP_E_IO, "argv must be a list of strings without NUL bytes");
		sp_fanout__job_finish(j);
		return;
	}
	if (sp_fanout__conn_begin(j) < 0) {
		sp_fanout__job_finish(j);
		return;
	}
	ssh_step(j);
	ssh_step(j);
}

void sp_fanout__job_step(struct sp_job *j)
{
	if (j->state == J_DONE)
		return;
	if (j->state == J_LOCAL)
		local_step(j);
	else
		ssh_step(j);
}
