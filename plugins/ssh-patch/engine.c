/*
 * Running one command on many hosts at once.
 *
 * Each command is a small state machine (struct sp_job) over a non-blocking libssh2 session
 * or a local child process: connect -> handshake -> host key check -> auth -> channel ->
 * exec -> I/O -> close. job_step() advances a job as far as it can without blocking.
 * Two drivers move the jobs:
 *   - poll: the calling thread multiplexes every running job with poll(2) (the default);
 *   - threads: a small pool where each worker drives one job at a time (config
 *     engine: threads; kept for the measurements in README.md).
 * The state machine never calls host services (log, audit): only the calling thread does,
 * after the jobs finish, because the ABI gives a salve_call to one thread.
 *
 * Sessions are cached per user@address:port+key in struct sp_state and reused by later
 * calls; a cached session that turns out dead is replaced once, transparently.
 */
#include "sp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh2.h>

#define MAX_CACHED_SESSIONS 1024

struct sp_conn {
	struct sp_conn *next;
	char *key;
	int sock;
	LIBSSH2_SESSION *session;
};

enum job_state {
	J_NEW,
	J_TCP,
	J_HANDSHAKE,
	J_AUTH_KEY,
	J_AUTH_AGENT,
	J_CHAN_OPEN,
	J_EXEC,
	J_IO,
	J_CLOSE,
	J_WAIT_CLOSED,
	J_FREE_CHAN,
	J_LOCAL,
	J_DONE,
};

struct sp_job {
	enum job_state state;
	struct sp_cmd *cmd;
	struct sp_state *st;
	double start;
	double connect_deadline;
	double cmd_deadline;
	double step_deadline; /* the step's deadline (HUGE_VAL when none) */
	double connect_timeout;
	double cmd_timeout;
	/* ssh */
	char *conn_key;
	struct sp_conn *conn;
	int from_cache;
	int reconnected;
	struct addrinfo *ai;
	struct addrinfo *ai_cur;
	LIBSSH2_CHANNEL *chan;
	LIBSSH2_AGENT *agent;
	struct libssh2_agent_publickey *identity;
	int agent_identities;
	const char *user;
	char *key_path;
	int key_tried;
	char *cmdline;
	size_t in_off;
	int eof_sent;
	/* local */
	pid_t pid;
	int fd_out;
	int fd_err;
	int fd_in;
	/* wait lines (SP_WAIT_LINE_PREFIX) on stderr: scanned up to notice_off; in the thread
	 * driver a worker leaves the latest in notice for the calling thread to report */
	size_t notice_off;
	char notice[400];
	int notice_ready;
};

/* ---- small helpers --------------------------------------------------------------------- */

static void job_fail(struct sp_job *j, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_fail(struct sp_job *j, int kind, const char *fmt, ...)
{
	struct sp_cmd *c = j->cmd;
	if (c->error_kind != SP_E_NONE)
		return; /* keep the first cause */
	struct sp_buf msg = {0};
	if (c->host->local)
		sp_buf_printf(&msg, "host %s (local): ", c->host->name);
	else
		sp_buf_printf(&msg, "host %s (%s port %d): ", c->host->name, c->host->address,
		              c->host->port);
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	sp_buf_addstr(&msg, why);
	/* Server messages (libssh2 passes some on) reach people through this text. */
	sp_escape_into(c->error, sizeof c->error, msg.data ? msg.data : "");
	sp_buf_free(&msg);
	c->error_kind = kind;
}

static const char *ssh_errmsg(LIBSSH2_SESSION *s)
{
	char *msg = NULL;
	if (!s)
		return "no session";
	libssh2_session_last_error(s, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

static char *expand_home(const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
		const char *home = getenv("HOME");
		if (!home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : "/";
		}
		size_t n = strlen(home) + strlen(path) + 1;
		char *out = malloc(n);
		if (out)
			snprintf(out, n, "%s%s", home, path + 1);
		return out;
	}
	return strdup(path);
}

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

/* ---- the connection cache -------------------------------------------------------------- */

static void conn_destroy(struct sp_conn *c, int orderly)
{
	if (!c)
		return;
	if (c->session) {
		if (orderly) {
			/* A bounded, blocking goodbye: only at fini or for idle sessions. */
			libssh2_session_set_timeout(c->session, 2000);
			libssh2_session_set_blocking(c->session, 1);
			libssh2_session_disconnect(c->session, "salve: closing");
		} else if (c->sock >= 0) {
			/* Broken or timed out: stop all traffic first so freeing cannot block or
			 * write into a reused descriptor. */
			shutdown(c->sock, SHUT_RDWR);
		}
		libssh2_session_free(c->session);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c->key);
	free(c);
}

static struct sp_conn *cache_take(struct sp_state *st, const char *key)
{
	struct sp_conn *found = NULL;
	pthread_mutex_lock(&st->lock);
	for (struct sp_conn **pp = &st->cache; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) == 0) {
			found = *pp;
			*pp = found->next;
			found->next = NULL;
			st->ncached--;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return found;
}

static void cache_put(struct sp_state *st, struct sp_conn *c)
{
	struct sp_conn *drop = NULL;
	pthread_mutex_lock(&st->lock);
	int dup = 0;
	for (struct sp_conn *p = st->cache; p; p = p->next)
		dup |= strcmp(p->key, c->key) == 0;
	if (dup || st->ncached >= MAX_CACHED_SESSIONS) {
		drop = c;
	} else {
		c->next = st->cache;
		st->cache = c;
		st->ncached++;
	}
	pthread_mutex_unlock(&st->lock);
	conn_destroy(drop, 0);
}

static void conn_key(struct sp_buf *b, const char *user, const struct sp_host *h,
                     const char *key_path)
{
	sp_buf_printf(b, "%s@%s:%d key=%s", user, h->address, h->port, key_path ? key_path : "");
}

void sp_conn_forget(struct sp_state *st, const struct sp_host *h)
{
	char needle[600];
	snprintf(needle, sizeof needle, "@%s:%d key=", h->address, h->port);
	struct sp_conn *doomed = NULL;
	pthread_mutex_lock(&st->lock);
	for (struct sp_conn **pp = &st->cache; *pp;) {
		if (strstr((*pp)->key, needle)) {
			struct sp_conn *c = *pp;
			*pp = c->next;
			c->next = doomed;
			doomed = c;
			st->ncached--;
		} else {
			pp = &(*pp)->next;
		}
	}
	pthread_mutex_unlock(&st->lock);
	while (doomed) {
		struct sp_conn *next = doomed->next;
		conn_destroy(doomed, 0);
		doomed = next;
	}
}

void sp_conn_close_all(struct sp_state *st)
{
	pthread_mutex_lock(&st->lock);
	struct sp_conn *all = st->cache;
	st->cache = NULL;
	st->ncached = 0;
	pthread_mutex_unlock(&st->lock);
	while (all) {
		struct sp_conn *next = all->next;
		conn_destroy(all, 1);
		all = next;
	}
}

/* ---- known_hosts ----------------------------------------------------------------------- */

struct keytype {
	int hostkey_type; /* LIBSSH2_HOSTKEY_TYPE_* */
	int kh_type;      /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;
	const char *methods; /* hostkey algorithms for the preference list */
};

static const struct keytype keytypes[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ssh-ed25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ecdsa-sha2-nistp256"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp384"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ecdsa-sha2-nistp521"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
     "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "ssh-dss"},
};
#define NKEYTYPES (sizeof keytypes / sizeof *keytypes)

/* Load known_hosts line by line: libssh2's own readfile gives up on the first line it does
 * not understand (@cert-authority, sk- keys), which would refuse every host. */
static LIBSSH2_KNOWNHOSTS *known_hosts_load(LIBSSH2_SESSION *s, const char *path)
{
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(s);
	if (!kh || !path)
		return kh;
	FILE *f = fopen(path, "r");
	if (!f)
		return kh;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0' || *p == '@')
			continue;
		libssh2_knownhost_readline(kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	free(line);
	fclose(f);
	return kh;
}

/* Put the host key types known_hosts has for this host first, as OpenSSH does, so a server
 * offering several keys is asked for one we can verify. */
static void prefer_known_key_types(LIBSSH2_SESSION *s, LIBSSH2_KNOWNHOSTS *kh,
                                   const struct sp_host *h)
{
	struct sp_buf pref = {0};
	int known[NKEYTYPES] = {0};
	int any = 0;
	for (size_t i = 0; i < NKEYTYPES; i++) {
		/* A key that cannot match: MISMATCH means an entry of this type exists. */
		int r =
		    libssh2_knownhost_checkp(kh, h->address, h->port, "salve-probe", 11,
		                             LIBSSH2_KNOWNHOST_TYPE_PLAIN |
		                                 LIBSSH2_KNOWNHOST_KEYENC_RAW | keytypes[i].kh_type,
		                             NULL);
		known[i] = r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
		any |= known[i];
	}
	if (!any)
		return;
	/* Only algorithms this libssh2 supports: 1.10 removes unsupported ones from the list
	 * with an overlapping memcpy. */
	const char **algs = NULL;
	int nalgs = libssh2_session_supported_algs(s, LIBSSH2_METHOD_HOSTKEY, &algs);
	if (nalgs <= 0)
		return;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NKEYTYPES; i++) {
			if (known[i] != (pass == 0))
				continue;
			char *methods = strdup(keytypes[i].methods);
			for (char *save = NULL, *m = strtok_r(methods, ",", &save); m;
			     m = strtok_r(NULL, ",", &save))
				for (int k = 0; k < nalgs; k++)
					if (strcmp(algs[k], m) == 0) {
						if (pref.len)
							sp_buf_addstr(&pref, ",");
						sp_buf_addstr(&pref, m);
					}
			free(methods);
		}
	libssh2_free(s, algs);
	if (pref.len)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, pref.data);
	sp_buf_free(&pref);
}

static int append_known_host(struct sp_state *st, LIBSSH2_KNOWNHOSTS *kh,
                             struct libssh2_knownhost *entry, char *why, size_t whylen)
{
	char line[8192];
	size_t outlen = 0;
	if (libssh2_knownhost_writeline(kh, entry, line, sizeof line, &outlen,
	                                LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
		snprintf(why, whylen, "cannot format the known_hosts line");
		return -1;
	}
	pthread_mutex_lock(&st->lock);
	int fd = open(st->cfg.known_hosts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd >= 0) {
		rc = write(fd, line, outlen) == (ssize_t)outlen ? 0 : -1;
		if (close(fd) != 0)
			rc = -1;
	}
	pthread_mutex_unlock(&st->lock);
	if (rc < 0)
		snprintf(why, whylen, "cannot append to %s: %s", st->cfg.known_hosts,
		         strerror(errno));
	return rc;
}

static int verify_host_key(struct sp_job *j, LIBSSH2_KNOWNHOSTS *kh)
{
	LIBSSH2_SESSION *s = j->conn->session;
	const struct sp_host *h = j->cmd->host;
	size_t len = 0;
	int type = 0;
	const char *key = libssh2_session_hostkey(s, &len, &type);
	if (!key) {
		job_fail(j, SP_E_HOSTKEY, "the server sent no host key; refusing");
		return -1;
	}
	const struct keytype *kt = NULL;
	for (size_t i = 0; i < NKEYTYPES; i++)
		if (keytypes[i].hostkey_type == type)
			kt = &keytypes[i];
	if (!kt) {
		job_fail(j, SP_E_HOSTKEY, "host key of unsupported type %d; refusing", type);
		return -1;
	}
	char fp[64] = "?";
	const char *hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256);
	if (hash) {
		char *b64 = sp_base64(hash, 32);
		if (b64) {
			char *eq = strchr(b64, '=');
			if (eq)
				*eq = '\0';
			snprintf(fp, sizeof fp, "SHA256:%s", b64);
			free(b64);
		}
	}
	const char *path = j->st->cfg.known_hosts;
	int typemask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->kh_type;
	int r = libssh2_knownhost_checkp(kh, h->address, h->port, key, len, typemask, NULL);
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return 0;
	if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
		job_fail(j, SP_E_HOSTKEY,
		         "host key CHANGED: the server offers %s %s, which does not match the key "
		         "known_hosts %s holds for it; refusing (possible man-in-the-middle)",
		         kt->name, fp, path);
		return -1;
	}
	if (r != LIBSSH2_KNOWNHOST_CHECK_NOTFOUND) {
		job_fail(j, SP_E_HOSTKEY, "cannot check the %s host key against %s: %s; refusing",
		         kt->name, path, ssh_errmsg(s));
		return -1;
	}
	if (!j->st->cfg.accept_new) {
		job_fail(j, SP_E_HOSTKEY,
		         "unknown host key %s %s: not in known_hosts %s; refusing (verify it and "
		         "add it, or set accept_new)",
		         kt->name, fp, path);
		return -1;
	}
	char name[600];
	if (h->port == 22)
		snprintf(name, sizeof name, "%s", h->address);
	else
		snprintf(name, sizeof name, "[%s]:%d", h->address, h->port);
	struct libssh2_knownhost *entry = NULL;
	char why[300];
	if (libssh2_knownhost_addc(kh, name, NULL, key, len, NULL, 0, typemask, &entry) != 0 ||
	    append_known_host(j->st, kh, entry, why, sizeof why) < 0) {
		if (!entry)
			snprintf(why, sizeof why, "%s", ssh_errmsg(s));
		job_fail(j, SP_E_HOSTKEY, "accept_new: cannot record host key %s %s in %s: %s",
		         kt->name, fp, path, why);
		return -1;
	}
	json_decref(j->cmd->key_added);
	j->cmd->key_added = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "host", h->name, "address",
	                              h->address, "port", h->port, "key_type", kt->name,
	                              "fingerprint", fp, "known_hosts", path);
	return 0;
}

/* ---- job lifecycle --------------------------------------------------------------------- */

static void job_release_ssh(struct sp_job *j, int reusable)
{
	if (j->agent) {
		libssh2_agent_disconnect(j->agent);
		libssh2_agent_free(j->agent);
		j->agent = NULL;
	}
	if (j->chan && !reusable) {
		/* Not reusable: the session goes with it; freeing the session frees the channel. */
		j->chan = NULL;
	}
	if (j->conn) {
		if (reusable)
			cache_put(j->st, j->conn);
		else
			conn_destroy(j->conn, 0);
		j->conn = NULL;
	}
	if (j->ai) {
		freeaddrinfo(j->ai);
		j->ai = NULL;
	}
}

static void job_finish(struct sp_job *j)
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
	job_release_ssh(j, 0);
	j->cmd->duration = sp_now() - j->start;
	j->state = J_DONE;
}

static void job_done_ok(struct sp_job *j, int reusable)
{
	job_release_ssh(j, reusable);
	j->cmd->ran = 1;
	j->cmd->duration = sp_now() - j->start;
	j->state = J_DONE;
}

static int tcp_next_address(struct sp_job *j);

static int ssh_begin(struct sp_job *j)
{
	struct sp_conn *cached = j->reconnected ? NULL : cache_take(j->st, j->conn_key);
	if (cached) {
		j->conn = cached;
		j->from_cache = 1;
		j->state = J_CHAN_OPEN;
		return 0;
	}
	j->from_cache = 0;
	j->conn = calloc(1, sizeof *j->conn);
	if (!j->conn) {
		job_fail(j, SP_E_CONNECT, "out of memory");
		return -1;
	}
	j->conn->sock = -1;
	j->conn->key = strdup(j->conn_key);
	char port[16];
	snprintf(port, sizeof port, "%d", j->cmd->host->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int gai = getaddrinfo(j->cmd->host->address, port, &hints, &j->ai);
	if (gai != 0) {
		job_fail(j, SP_E_CONNECT, "cannot resolve address: %s", gai_strerror(gai));
		return -1;
	}
	j->ai_cur = j->ai;
	return tcp_next_address(j);
}

static int tcp_next_address(struct sp_job *j)
{
	int last_err = 0;
	for (; j->ai_cur; j->ai_cur = j->ai_cur->ai_next) {
		struct addrinfo *a = j->ai_cur;
		if (j->conn->sock >= 0) {
			close(j->conn->sock);
			j->conn->sock = -1;
		}
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                a->ai_protocol);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		j->conn->sock = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			j->state = J_HANDSHAKE;
			return 0;
		}
		if (errno == EINPROGRESS) {
			j->state = J_TCP;
			return 0;
		}
		last_err = errno;
	}
	job_fail(j, SP_E_CONNECT, "cannot connect: %s",
	         strerror(last_err ? last_err : ECONNREFUSED));
	return -1;
}

static int ssh_start_session(struct sp_job *j)
{
	LIBSSH2_SESSION *s = libssh2_session_init();
	if (!s) {
		job_fail(j, SP_E_CONNECT, "cannot create an SSH session");
		return -1;
	}
	j->conn->session = s;
	libssh2_session_set_blocking(s, 0);
	LIBSSH2_KNOWNHOSTS *kh = known_hosts_load(s, j->st->cfg.known_hosts);
	if (kh) {
		prefer_known_key_types(s, kh, j->cmd->host);
		libssh2_knownhost_free(kh);
	}
	return 0;
}

/* A failure on a session taken from the cache before anything ran: the server closed it
 * while idle (restart, reboot, timeout). Start over once with a new connection. */
static int retry_fresh(struct sp_job *j)
{
	if (!j->from_cache || j->reconnected)
		return 0;
	j->chan = NULL;
	conn_destroy(j->conn, 0);
	j->conn = NULL;
	j->reconnected = 1;
	j->from_cache = 0;
	j->connect_deadline = fmin(sp_now() + j->connect_timeout, j->step_deadline);
	if (ssh_begin(j) < 0)
		return -1;
	return 1;
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

static void ssh_step(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	for (;;) {
		LIBSSH2_SESSION *s = j->conn ? j->conn->session : NULL;
		int rc;
		switch (j->state) {
		case J_TCP: {
			struct pollfd p = {.fd = j->conn->sock, .events = POLLOUT};
			if (poll(&p, 1, 0) <= 0)
				return;
			int err = 0;
			socklen_t len = sizeof err;
			getsockopt(j->conn->sock, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err != 0) {
				j->ai_cur = j->ai_cur->ai_next;
				if (!j->ai_cur) {
					job_fail(j, SP_E_CONNECT, "cannot connect: %s",
					         strerror(err));
					job_finish(j);
					return;
				}
				if (tcp_next_address(j) < 0) {
					job_finish(j);
					return;
				}
				continue;
			}
			j->state = J_HANDSHAKE;
			continue;
		}
		case J_HANDSHAKE:
			if (!s) {
				if (ssh_start_session(j) < 0) {
					job_finish(j);
					return;
				}
				s = j->conn->session;
			}
			rc = libssh2_session_handshake(s, j->conn->sock);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			if (rc != 0) {
				job_fail(j, SP_E_CONNECT, "SSH handshake failed: %s",
				         ssh_errmsg(s));
				job_finish(j);
				return;
			}
			{
				LIBSSH2_KNOWNHOSTS *kh =
				    known_hosts_load(s, j->st->cfg.known_hosts);
				int ok = kh ? verify_host_key(j, kh) : -1;
				if (kh)
					libssh2_knownhost_free(kh);
				else
					job_fail(j, SP_E_HOSTKEY,
					         "cannot load known_hosts; refusing");
				if (ok < 0) {
					job_finish(j);
					return;
				}
			}
			j->state = J_AUTH_KEY;
			continue;
		case J_AUTH_KEY:
			if (j->key_path && !j->key_tried) {
				rc = libssh2_userauth_publickey_fromfile_ex(
				    s, j->user, (unsigned)strlen(j->user), NULL, j->key_path,
				    j->st->cfg.passphrase);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return;
				j->key_tried = 1;
				if (rc == 0) {
					j->state = J_CHAN_OPEN;
					continue;
				}
			}
			j->key_tried = 1;
			if (!j->st->cfg.use_agent || !getenv("SSH_AUTH_SOCK")) {
				job_fail(j, SP_E_AUTH,
				         "authentication as %s failed (key file %s%s%s)", j->user,
				         j->key_path ? j->key_path : "none",
				         j->key_path ? ": " : "", j->key_path ? ssh_errmsg(s) : "");
				job_finish(j);
				return;
			}
			j->agent = libssh2_agent_init(s);
			if (!j->agent || libssh2_agent_connect(j->agent) != 0 ||
			    libssh2_agent_list_identities(j->agent) != 0) {
				job_fail(j, SP_E_AUTH,
				         "authentication as %s failed: key file %s rejected and "
				         "ssh-agent unusable (%s)",
				         j->user, j->key_path ? j->key_path : "none",
				         ssh_errmsg(s));
				job_finish(j);
				return;
			}
			j->identity = NULL;
			if (libssh2_agent_get_identity(j->agent, &j->identity, NULL) != 0)
				j->identity = NULL;
			j->state = J_AUTH_AGENT;
			continue;
		case J_AUTH_AGENT:
			if (!j->identity) {
				job_fail(
				    j, SP_E_AUTH,
				    "authentication as %s failed: key file %s and %d ssh-agent "
				    "identities were refused",
				    j->user, j->key_path ? j->key_path : "none",
				    j->agent_identities);
				job_finish(j);
				return;
			}
			rc = libssh2_agent_userauth(j->agent, j->user, j->identity);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			if (rc == 0) {
				libssh2_agent_disconnect(j->agent);
				libssh2_agent_free(j->agent);
				j->agent = NULL;
				j->state = J_CHAN_OPEN;
				continue;
			}
			j->agent_identities++;
			{
				struct libssh2_agent_publickey *prev = j->identity;
				if (libssh2_agent_get_identity(j->agent, &j->identity, prev) != 0)
					j->identity = NULL;
			}
			continue;
		case J_CHAN_OPEN:
			j->chan = libssh2_channel_open_session(s);
			if (!j->chan) {
				if (libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
					return;
				rc = retry_fresh(j);
				if (rc > 0)
					continue;
				job_fail(j, SP_E_IO, "cannot open an SSH channel: %s",
				         ssh_errmsg(s));
				job_finish(j);
				return;
			}
			j->state = J_EXEC;
			continue;
		case J_EXEC:
			rc = libssh2_channel_exec(j->chan, j->cmdline);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			if (rc != 0) {
				int again = retry_fresh(j);
				if (again > 0)
					continue;
				job_fail(j, SP_E_IO, "cannot start the command: %s", ssh_errmsg(s));
				job_finish(j);
				return;
			}
			j->cmd_deadline = fmin(sp_now() + j->cmd_timeout, j->step_deadline);
			j->state = J_IO;
			continue;
		case J_IO:
			while (!j->eof_sent) {
				if (j->in_off < c->input_len) {
					ssize_t w =
					    libssh2_channel_write(j->chan, c->input + j->in_off,
					                          c->input_len - j->in_off);
					if (w == LIBSSH2_ERROR_EAGAIN)
						break;
					if (w < 0) {
						job_fail(j, SP_E_IO,
						         "writing the command's input failed: %s",
						         ssh_errmsg(s));
						job_finish(j);
						return;
					}
					j->in_off += (size_t)w;
					continue;
				}
				rc = libssh2_channel_send_eof(j->chan);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					break;
				j->eof_sent =
				    1; /* an error here means the command already closed */
			}
			rc = ssh_drain(j);
			if (rc < 0) {
				job_fail(j, SP_E_IO, "the session broke during the command: %s",
				         ssh_errmsg(s));
				job_finish(j);
				return;
			}
			if (rc == 0)
				return;
			j->state = J_CLOSE;
			continue;
		case J_CLOSE:
			rc = libssh2_channel_close(j->chan);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			j->state = J_WAIT_CLOSED;
			continue;
		case J_WAIT_CLOSED:
			rc = libssh2_channel_wait_closed(j->chan);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			{
				char *sig = NULL;
				size_t siglen = 0;
				c->rc = libssh2_channel_get_exit_status(j->chan);
				if (libssh2_channel_get_exit_signal(j->chan, &sig, &siglen, NULL,
				                                    NULL, NULL, NULL) == 0 &&
				    sig) {
					int num = exit_signal_number(sig);
					c->rc = 128 + (num ? num : 0);
					libssh2_free(s, sig);
				}
			}
			j->state = J_FREE_CHAN;
			continue;
		case J_FREE_CHAN:
			rc = libssh2_channel_free(j->chan);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return;
			j->chan = NULL;
			job_done_ok(j, rc == 0);
			return;
		default:
			return;
		}
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
		job_fail(j, SP_E_LOCAL, "out of memory");
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
		job_fail(j, SP_E_LOCAL, "empty command");
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    (c->input && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)) {
		job_fail(j, SP_E_LOCAL, "cannot create pipes: %s", strerror(errno));
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
		job_fail(j, SP_E_LOCAL, "cannot run %s: %s", argv[0], strerror(rc));
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
	job_fail(j, SP_E_LOCAL, "waitpid failed: %s", strerror(errno));
	j->pid = 0;
	job_finish(j);
}

/* ---- driving jobs ---------------------------------------------------------------------- */

/* The next complete "salve: waiting for ..." line the command wrote to stderr since the last
 * call, without the "salve: " prefix (raw bytes: the reporter escapes them). 0 when none. */
static int job_next_wait_line(struct sp_job *j, char *out, size_t outlen)
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

/* On the calling thread: pass the job's new wait lines to host->progress. */
static void job_report_waits(salve_call *call, struct sp_job *j)
{
	if (j->notice_ready) {
		sp_progress(call, "%s: %s", j->cmd->host->name, j->notice);
		j->notice_ready = 0;
	}
	char line[sizeof j->notice];
	while (job_next_wait_line(j, line, sizeof line))
		sp_progress(call, "%s: %s", j->cmd->host->name, line);
}

static void job_start(struct sp_job *j)
{
	struct sp_cmd *c = j->cmd;
	j->start = sp_now();
	j->fd_out = j->fd_err = j->fd_in = -1;
	j->connect_deadline = fmin(j->start + j->connect_timeout, j->step_deadline);
	if (c->host->local) {
		if (local_spawn(j) < 0)
			job_finish(j);
		else
			local_step(j);
		return;
	}
	j->cmdline = sp_cmd_line(c);
	if (!j->cmdline) {
		job_fail(j, SP_E_IO, "argv must be a list of strings without NUL bytes");
		job_finish(j);
		return;
	}
	const struct sp_config *cfg = &j->st->cfg;
	j->user = c->host->user ? c->host->user : cfg->user;
	j->key_path = expand_home(c->host->key_file ? c->host->key_file : cfg->private_key_file);
	struct sp_buf k = {0};
	conn_key(&k, j->user, c->host, j->key_path);
	j->conn_key = sp_buf_take(&k);
	if (ssh_begin(j) < 0) {
		job_finish(j);
		return;
	}
	ssh_step(j);
}

static void job_step(struct sp_job *j)
{
	if (j->state == J_DONE)
		return;
	if (j->state == J_LOCAL)
		local_step(j);
	else
		ssh_step(j);
}

static int job_in_connect(const struct sp_job *j)
{
	return j->state == J_TCP || j->state == J_HANDSHAKE || j->state == J_AUTH_KEY ||
	       j->state == J_AUTH_AGENT || j->state == J_CHAN_OPEN || j->state == J_EXEC;
}

/* Enforce timeouts; returns 1 when the job ended. */
static int job_check_time(struct sp_job *j, double now)
{
	if (j->state == J_DONE)
		return 1;
	if (job_in_connect(j) && now >= j->connect_deadline) {
		if (j->connect_deadline >= j->step_deadline)
			job_fail(j, SP_E_TIMEOUT, "the step's deadline passed while connecting");
		else
			job_fail(j, SP_E_TIMEOUT, "connect timed out after %.3gs",
			         j->connect_timeout);
		job_finish(j);
		return 1;
	}
	if (!job_in_connect(j) && now >= j->cmd_deadline) {
		if (j->cmd_deadline >= j->step_deadline)
			job_fail(j, SP_E_TIMEOUT,
			         "the step's deadline passed while the command ran");
		else
			job_fail(j, SP_E_TIMEOUT, "command timed out after %.3gs", j->cmd_timeout);
		job_finish(j);
		return 1;
	}
	return 0;
}

static double job_deadline(const struct sp_job *j)
{
	return job_in_connect(j) ? j->connect_deadline : j->cmd_deadline;
}

static int job_pollfds(const struct sp_job *j, struct pollfd *p)
{
	int n = 0;
	if (j->state == J_DONE)
		return 0;
	if (j->state == J_LOCAL) {
		if (j->fd_out >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_out, .events = POLLIN};
		if (j->fd_err >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_err, .events = POLLIN};
		if (j->fd_in >= 0)
			p[n++] = (struct pollfd){.fd = j->fd_in, .events = POLLOUT};
		return n;
	}
	if (!j->conn || j->conn->sock < 0)
		return 0;
	short ev = 0;
	if (j->state == J_TCP) {
		ev = POLLOUT;
	} else if (j->conn->session) {
		int dir = libssh2_session_block_directions(j->conn->session);
		if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
			ev |= POLLIN;
		if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			ev |= POLLOUT;
		if (!ev)
			ev = POLLIN;
	} else {
		ev = POLLIN;
	}
	p[n++] = (struct pollfd){.fd = j->conn->sock, .events = ev};
	return n;
}

static void job_cleanup(struct sp_job *j)
{
	free(j->conn_key);
	free(j->key_path);
	free(j->cmdline);
}

static void fail_unfinished(struct sp_job *jobs, size_t n, int kind, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].state == J_DONE)
			continue;
		if (jobs[i].start == 0)
			jobs[i].start = sp_now();
		job_fail(&jobs[i], kind, "%s", why);
		job_finish(&jobs[i]);
	}
}

/* The poll driver: the calling thread runs every job. */
static int drive_poll(salve_call *call, struct sp_job *jobs, size_t n, long forks)
{
	size_t next = 0, active = 0, done = 0;
	struct pollfd *pfds = calloc(3 * (size_t)forks + 1, sizeof *pfds);
	size_t *running = calloc((size_t)forks + 1, sizeof *running);
	int status = SALVE_OK;
	if (!pfds || !running) {
		free(pfds);
		free(running);
		fail_unfinished(jobs, n, SP_E_IO, "out of memory");
		return SALVE_ERR;
	}
	while (done < n) {
		while (active < (size_t)forks && next < n) {
			job_start(&jobs[next]);
			running[active++] = next++;
		}
		double now = sp_now();
		/* Reap finished jobs and enforce timeouts. */
		for (size_t k = 0; k < active;) {
			struct sp_job *j = &jobs[running[k]];
			if (job_check_time(j, now)) {
				running[k] = running[--active];
				done++;
			} else {
				k++;
			}
		}
		if (done == n)
			break;
		if (active < (size_t)forks && next < n)
			continue;
		if (sp_api->cancelled(call)) {
			fail_unfinished(jobs, n, SP_E_CANCELLED, "the run was cancelled");
			status = SALVE_ERR_CANCELED;
			break;
		}
		double wake = now + 0.25; /* also the cancellation poll interval */
		int np = 0;
		for (size_t k = 0; k < active; k++) {
			struct sp_job *j = &jobs[running[k]];
			np += job_pollfds(j, pfds + np);
			wake = fmin(wake, job_deadline(j));
		}
		int ms = (int)ceil(fmax(0, wake - now) * 1000);
		if (np > 0)
			poll(pfds, (nfds_t)np, ms);
		else if (ms > 0)
			poll(NULL, 0, ms < 5 ? ms : 5);
		for (size_t k = 0; k < active; k++) {
			job_step(&jobs[running[k]]);
			job_report_waits(call, &jobs[running[k]]);
		}
	}
	free(pfds);
	free(running);
	return status;
}

/* The thread-pool driver: each worker takes the next job and drives it to the end. */
struct pool {
	struct sp_job *jobs;
	size_t n;
	atomic_size_t next;
	atomic_size_t done;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		struct sp_job *j = &p->jobs[i];
		if (atomic_load(&p->stop)) {
			j->start = sp_now();
			job_fail(j, SP_E_CANCELLED, "the run was cancelled");
			job_finish(j);
		} else {
			job_start(j);
		}
		while (!job_check_time(j, sp_now())) {
			if (atomic_load(&p->stop)) {
				job_fail(j, SP_E_CANCELLED, "the run was cancelled");
				job_finish(j);
				break;
			}
			struct pollfd pfds[3];
			int np = job_pollfds(j, pfds);
			double wait = fmin(0.1, fmax(0, job_deadline(j) - sp_now()));
			poll(np ? pfds : NULL, (nfds_t)np, (int)ceil(wait * 1000));
			job_step(j);
			char line[sizeof j->notice];
			while (job_next_wait_line(j, line, sizeof line)) {
				/* Only the calling thread may use the call: hand the line over. */
				pthread_mutex_lock(&p->mu);
				memcpy(j->notice, line, sizeof line);
				j->notice_ready = 1;
				pthread_cond_signal(&p->cv);
				pthread_mutex_unlock(&p->mu);
			}
		}
		pthread_mutex_lock(&p->mu);
		atomic_fetch_add(&p->done, 1);
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

static int drive_threads(salve_call *call, struct sp_job *jobs, size_t n, long forks)
{
	struct pool p = {.jobs = jobs, .n = n};
	atomic_init(&p.next, 0);
	atomic_init(&p.done, 0);
	atomic_init(&p.stop, 0);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	size_t nthreads = (size_t)forks < n ? (size_t)forks : n;
	pthread_t *tids = calloc(nthreads + 1, sizeof *tids);
	size_t started = 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (size_t i = 0; tids && i < nthreads; i++)
		if (pthread_create(&tids[i], &attr, pool_worker, &p) == 0)
			started++;
	pthread_attr_destroy(&attr);
	if (started == 0)
		pool_worker(&p); /* no threads: do the work here rather than fail */
	int status = SALVE_OK;
	pthread_mutex_lock(&p.mu);
	while (atomic_load(&p.done) < n && started > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p.cv, &p.mu, &ts);
		for (size_t i = 0; i < n; i++)
			if (jobs[i].notice_ready) {
				sp_progress(call, "%s: %s", jobs[i].cmd->host->name,
				            jobs[i].notice);
				jobs[i].notice_ready = 0;
			}
		if (sp_api->cancelled(call)) {
			atomic_store(&p.stop, 1);
			status = SALVE_ERR_CANCELED;
		}
	}
	pthread_mutex_unlock(&p.mu);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return status;
}

int sp_run(salve_call *call, struct sp_cmd *cmds, size_t n, long forks, double connect_timeout)
{
	struct sp_state *st = sp_state_of(call);
	if (n == 0)
		return SALVE_OK;
	if (forks <= 0)
		forks = st->cfg.forks;
	if (connect_timeout <= 0)
		connect_timeout = st->cfg.connect_timeout;
	double remaining = sp_api->remaining(call);
	double now = sp_now();
	double step_deadline = isfinite(remaining) ? now + remaining : HUGE_VAL;
	struct sp_job *jobs = calloc(n, sizeof *jobs);
	if (!jobs)
		return SALVE_ERR;
	for (size_t i = 0; i < n; i++) {
		struct sp_cmd *c = &cmds[i];
		c->ran = 0;
		c->rc = -1;
		c->error_kind = SP_E_NONE;
		c->error[0] = '\0';
		sp_buf_free(&c->out);
		sp_buf_free(&c->err);
		c->out.limit = c->err.limit = st->cfg.max_output;
		jobs[i].cmd = c;
		jobs[i].st = st;
		jobs[i].pid = 0;
		jobs[i].fd_out = jobs[i].fd_err = jobs[i].fd_in = -1;
		jobs[i].step_deadline = step_deadline;
		jobs[i].connect_timeout = connect_timeout;
		jobs[i].cmd_timeout = c->timeout > 0 ? c->timeout : st->cfg.command_timeout;
		c->job = &jobs[i];
	}
	int status;
	if (remaining <= 0) {
		fail_unfinished(jobs, n, SP_E_TIMEOUT,
		                "the step's deadline passed before starting");
		status = SALVE_ERR_TIMEOUT;
	} else if (st->cfg.threads) {
		status = drive_threads(call, jobs, n, forks);
	} else {
		status = drive_poll(call, jobs, n, forks);
	}
	/* A host that timed out because the step's deadline passed makes the whole call a
	 * timeout: the engine must not be asked for more. */
	for (size_t i = 0; i < n && status == SALVE_OK; i++)
		if (cmds[i].error_kind == SP_E_TIMEOUT && isfinite(step_deadline) &&
		    sp_now() >= step_deadline)
			status = SALVE_ERR_TIMEOUT;
	for (size_t i = 0; i < n; i++) {
		job_report_waits(call, &jobs[i]); /* lines that came with the command's end */
		if (cmds[i].key_added)
			sp_api->audit(call, "ssh_host_key_accepted", cmds[i].key_added);
		job_cleanup(&jobs[i]);
		cmds[i].job = NULL;
	}
	free(jobs);
	return status;
}

void sp_cmds_free(struct sp_cmd *cmds, size_t n)
{
	if (!cmds)
		return;
	for (size_t i = 0; i < n; i++) {
		json_decref(cmds[i].argv);
		json_decref(cmds[i].env);
		free(cmds[i].shell);
		free(cmds[i].input);
		sp_buf_free(&cmds[i].out);
		sp_buf_free(&cmds[i].err);
		json_decref(cmds[i].key_added);
	}
	free(cmds);
}
